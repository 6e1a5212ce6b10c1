"""segkit: per-period customer-value reports."""

from segkit.memory import avoid_huge_page_stalls

__version__ = "0.1.0"

avoid_huge_page_stalls()
