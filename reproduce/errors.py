"""Errors the command line turns into a one-line message and exit status 2."""


class ReproduceError(Exception):
    """Base class: a problem the user can fix (bad input, bad option, existing run)."""


class DataError(ReproduceError, ValueError):
    """The data file is unreadable or not Kaggle's train.json schema (the message says where)."""
