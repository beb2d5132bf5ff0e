"""Reproduction of "A Gentle Introduction to Neural Differential Equations": ``python -m reproduce``."""

from importlib import metadata as _metadata

__all__ = ["__version__"]
try:  # one distribution ships reproduce and odelayers, under one version
    __version__ = _metadata.version("neural-ode-iceberg")
except _metadata.PackageNotFoundError:
    __version__ = "0+unknown"
