"""distill: distil SuperPoint into small, fast interest-point detectors. The Python API is
:class:`distill.Detector` (``distill/api.py``)."""
from distill.api import Detector, Features

__all__ = ["Detector", "Features"]
