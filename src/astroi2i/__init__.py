"""astroi2i: deep image-to-image models for astronomical survey data, FITS in and FITS out.

Importing the package is cheap: the submodules (and torch) load only when used.
"""

__version__ = "0.1.0"
__all__ = ["__version__", "Translator"]


def __getattr__(name: str):
    if name == "Translator":  # loaded on first use: it imports torch
        from astroi2i.workflows.translator import Translator

        return Translator
    raise AttributeError(f"module 'astroi2i' has no attribute {name!r}")
