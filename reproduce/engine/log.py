"""The run's log: what a run reports, printed and kept in ``log.txt``."""

from __future__ import annotations

import os
from pathlib import Path

from reproduce import provenance
from reproduce.atomic import naming_failures
from reproduce.engine.runfolder import LOG_FILE

__all__ = ["RunLog"]


class RunLog:
    """Prints a message and appends it, timestamped, to the run folder's log file."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / LOG_FILE

    def __call__(self, message: str, *, echo: bool = True) -> None:
        if echo:
            print(message, flush=True)
        stamp = provenance.utc_now()
        # Appended, not replaced atomically: a log that loses its last line in
        # a crash is still a log, and rewriting it every epoch would cost more.
        with naming_failures(self.path), open(self.path, "a", encoding="utf-8") as handle:
            for line in str(message).splitlines() or [""]:
                handle.write(f"{stamp}  {line}\n")
