"""Reproduction of "A Gentle Introduction to Neural Differential Equations": ``python -m reproduce``."""

__all__ = ["__version__"]
__version__ = "0.1.0"
