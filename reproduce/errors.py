"""Errors the command line turns into a one-line message and exit status 2."""


class ReproduceError(Exception):
    """Base class: a problem the user can fix (bad input, bad option, existing run)."""


class DataError(ReproduceError, ValueError):
    """The data file is unreadable or does not follow Kaggle's train.json schema.

    The message names the file, the record (0-based index and id when known)
    and the field.
    """
