"""Private building blocks of :mod:`dataquality_thresholds.fitting` (not public API)."""
