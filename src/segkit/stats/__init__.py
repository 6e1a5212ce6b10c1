"""Pure statistics for the report metrics: intervals and survival quantiles (no segkit imports)."""
