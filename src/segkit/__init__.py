"""segkit: per-period customer-value reports."""

__version__ = "0.1.0"
