"""dataquality_thresholds: how much of my fine-tuning data can be wrong?"""

from ._version import __version__

__all__ = ["__version__"]
