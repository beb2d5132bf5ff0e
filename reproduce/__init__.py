"""Reproduction of "A Gentle Introduction to Neural Differential Equations".

Run it as ``python -m reproduce --help``. The library it builds on is
``odelayers``; nothing here is imported by it.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
