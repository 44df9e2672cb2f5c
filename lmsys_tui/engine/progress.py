"""The one port every long step reports through: `sink(Progress(...))`.

Steps call the sink between batches. A sink may raise `JobCancelled` to stop a step;
everything the step committed before that stays in the workspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Progress:
    """One progress report: `done` of `total` units of `stage` (total None when unknown)."""

    stage: str
    done: int = 0
    total: int | None = None
    message: str = ""


class ProgressSink(Protocol):
    def __call__(self, event: Progress) -> None: ...


def null_sink(event: Progress) -> None:
    """A sink that ignores everything, for callers that do not show progress."""
