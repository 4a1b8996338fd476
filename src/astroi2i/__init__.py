"""astroi2i: deep image-to-image models for astronomical survey data, FITS in and FITS out.

Importing the package is cheap: the submodules (and torch) load only when used.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
