"""distill: distil SuperPoint into small, fast interest-point detectors. The Python API is
:class:`distill.Detector` (``distill/api.py``), loaded on first use so that ``import distill`` (and the
command line's ``--help``) costs no torch."""
from importlib import metadata

__version__ = metadata.version("distill")
__all__ = ["Detector", "Features", "Matcher", "Matches", "match", "__version__"]


def __getattr__(name: str):
    if name in ("Detector", "Features"):
        from distill import api

        return getattr(api, name)
    if name in ("Matcher", "Matches", "match"):
        from distill import matcher

        return getattr(matcher, name)
    raise AttributeError(f"module 'distill' has no attribute {name!r}")
