"""Where jobs run: `install` picks Celery on Redis (production) or the in-process `LocalExecutor` (embedded).

The embedded default runs jobs on a few daemon threads inside the web process, on the same database.
A web process that stops (restart, crash) takes its running jobs with it; the rows stay "running"
with that process as holder. Decided behaviour: the next process re-runs them. At start-up `install`
looks for active jobs of known kinds and, if there are any, starts the executor with an immediate
sweep: a job whose holder process is gone (same host) or silent for `stale_after_s` is re-queued as
attempt n+1 and run again, and after `max_attempts` it is failed with the reason ("its worker stopped
during attempt n of N; not retried"), which the page and the API show. With Celery the worker keeps
running through a web restart, and beat's sweeper (core.jobs.tasks) does the same for dead workers.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from sqlalchemy import select

from core.db import Database
from core.jobs.kinds import KINDS
from core.jobs.queue import EXTENSION, Dispatcher, QueueSettings, QueueUnavailable
from core.jobs.records import ACTIVE
from core.jobs.runner import execute, sweep
from core.jobs.tasks import CeleryDispatcher, register_tasks
from core.models.work import Job

log = logging.getLogger(__name__)
SWEEPER = "dc-job-sweeper"


class LocalExecutor:
    """The embedded default: a bounded pool of daemon threads in the app's own process, and a sweeper timer.

    Threads, not processes: a fork from a threaded web server can inherit a held lock, and the
    optimizers spend their time in numpy, which releases the GIL. Daemon threads, so stopping the
    app is not held up by a run (the module docstring says what happens to it). Cancellation is
    cooperative: the run polls its row.
    """

    def __init__(self, db: Database, settings: QueueSettings) -> None:
        self.db, self.settings = db, settings
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._pending = 0
        self._stop = threading.Event()

    def start(self, *, sweep_now: bool = False) -> None:
        """Start the threads (once). Most app instances (tests, CLIs) never run a job, so this waits for
        the first dispatch, or for `install` finding jobs a previous process left (`sweep_now`)."""
        with self._lock:
            self._start_locked(sweep_now)

    def _start_locked(self, sweep_now: bool) -> None:
        if self._threads or self._stop.is_set():
            return
        self._threads = [threading.Thread(target=self._work, name=f"dc-job-{i}", daemon=True)
                         for i in range(self.settings.workers)]
        self._threads.append(threading.Thread(target=self._sweep_forever, args=(sweep_now,), name=SWEEPER,
                                              daemon=True))
        for thread in self._threads:
            thread.start()

    def dispatch(self, job_id: str) -> None:
        with self._lock:
            if self._stop.is_set():
                raise QueueUnavailable("the app is shutting down")
            if self._pending >= self.settings.max_pending:
                raise QueueUnavailable(f"{self._pending} jobs are already waiting; try again in a few minutes")
            self._pending += 1
            self._start_locked(False)
        self._queue.put(job_id)

    def _work(self) -> None:
        while (job_id := self._queue.get()) is not None:
            try:
                execute(self.db, job_id, self.settings)
            except Exception:  # execute closes the job; this only keeps the thread alive
                log.exception("job %s: unexpected error in the in-process executor", job_id)
            finally:
                with self._lock:
                    self._pending -= 1

    def _sweep_forever(self, sweep_now: bool) -> None:
        if sweep_now:
            self._sweep_once()
        while not self._stop.wait(self.settings.sweep_every_s):
            self._sweep_once()

    def _sweep_once(self) -> None:
        try:
            counts = sweep(self.db, self)
            if any(counts.values()):
                log.info("job sweeper: %s", counts)
        except Exception:
            log.exception("job sweeper failed; retrying at the next interval")

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking jobs; with `wait`, let the queued and running ones finish first."""
        with self._lock:
            self._stop.set()
            workers = [t for t in self._threads if t.name != SWEEPER]
        for _ in workers:
            self._queue.put(None)
        if wait:
            for thread in workers:
                thread.join()


def _has_active_jobs(db: Database) -> bool:
    with db.session() as s:
        return s.execute(select(Job.id).where(Job.status.in_(ACTIVE), Job.kind.in_(list(KINDS))).limit(1)).first() \
            is not None


def install(server: Any, db: Database, celery_app: Any = None, settings: QueueSettings | None = None) -> Dispatcher:
    """Give the app its job queue (Celery when it has a Celery app, else in-process); kept in server.extensions.

    In-process, jobs a previous process left active are recovered at once (module docstring).
    """
    settings = settings or QueueSettings()
    if celery_app is not None:
        register_tasks(celery_app, db.url, settings)
        dispatcher: Dispatcher = CeleryDispatcher(celery_app, settings)
    else:
        dispatcher = LocalExecutor(db, settings)
        if _has_active_jobs(db):
            dispatcher.start(sweep_now=True)
    server.extensions[EXTENSION] = dispatcher
    return dispatcher
