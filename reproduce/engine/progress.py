"""What a run has done so far: completed epochs, their times, sessions, results."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from typing import Any

from reproduce import provenance

__all__ = ["Progress"]


@dataclasses.dataclass
class Progress:
    """The part of a run that the checkpoint carries from one session to the next.

    ``history`` has one dict per completed epoch (``epoch`` 1-based, then
    Keras' logs); ``sessions`` one entry per start or resumption; ``started``
    the UTC date of the first session. ``results`` and ``error`` belong to the
    current session only.
    """

    history: list[dict[str, float]] = dataclasses.field(default_factory=list)
    epoch_seconds: list[float] = dataclasses.field(default_factory=list)
    sessions: list[dict] = dataclasses.field(default_factory=list)
    started: str = dataclasses.field(default_factory=provenance.utc_now)
    results: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None
    error_kind: str | None = None

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    def add_epoch(self, epoch: int, logs: Mapping[str, Any], seconds: float) -> dict[str, float]:
        """Record the complete epoch ``epoch`` (0-based); return its history row."""
        row: dict[str, float] = {"epoch": epoch + 1}
        for key, value in logs.items():
            with contextlib.suppress(TypeError, ValueError):
                row[key] = float(value)
        self.history.append(row)
        self.epoch_seconds.append(seconds)
        self.sessions[-1]["end_epoch"] = len(self.history)
        return row

    def forget_last_epoch(self) -> None:
        """Undo :meth:`add_epoch` for an epoch whose checkpoint could not be saved."""
        self.history.pop()
        self.epoch_seconds.pop()
        self.sessions[-1]["end_epoch"] = len(self.history)

    def start_session(self, provenance_: Mapping[str, Any]) -> None:
        self.sessions.append(
            {
                "date": provenance.utc_now(),
                "start_epoch": len(self.history),
                "end_epoch": len(self.history),
                "hardware": provenance_["hardware"],
                "git_commit": provenance_["git_commit"],
            }
        )

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take over the progress a checkpoint's ``state.json`` recorded."""
        self.history = [dict(row) for row in state.get("history", [])]
        self.epoch_seconds = [float(s) for s in state.get("epoch_seconds", [])]
        self.sessions = list(state.get("sessions", []))
        self.started = state.get("date") or self.started
