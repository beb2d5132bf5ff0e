"""Errors the command line turns into a one-line message and exit status 2."""


class ReproduceError(Exception):
    """Base class: a problem the user can fix (bad input, bad option, existing run)."""


class DataError(ReproduceError, ValueError):
    """The data file is unreadable or not Kaggle's train.json schema (the message says where)."""


def first_line(text, limit: int = 400) -> str:
    """The first non-blank line of ``text``, shortened to ``limit`` characters."""
    line = next((line.strip() for line in str(text).splitlines() if line.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."
