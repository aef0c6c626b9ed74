"""Progress reporting and cooperative cancellation for long optimizer runs.

The job runner (core.jobs.records.JobReporter) and tests pass a `progress(fraction, message)`
callable and a token: anything with a truthy `.cancelled`, or a `threading.Event` that is set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ProgressFn = Callable[[float, str], None]


class Cancelled(Exception):
    """Raised inside a run when its cancellation token fires."""


class Monitor:
    """Wraps the optional callback and token so optimizers call one object."""

    def __init__(self, progress: ProgressFn | None = None, cancel: Any = None) -> None:
        self._progress = progress
        self._cancel = cancel

    @property
    def cancelled(self) -> bool:
        token = self._cancel
        if token is None:
            return False
        if hasattr(token, "is_set"):
            return bool(token.is_set())
        return bool(getattr(token, "cancelled", False))

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled("optimization cancelled")

    def report(self, fraction: float, message: str) -> None:
        self.check()
        if self._progress is not None:
            self._progress(min(max(float(fraction), 0.0), 1.0), message)
