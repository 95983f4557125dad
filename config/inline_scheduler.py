"""Scheduled work without a broker: the entries of CELERY_BEAT_SCHEDULE, run in the web process.

With CELERY_BROKER_URL unset (SPEC §9), nothing would run the periodic tasks: event retries
and the stuck-event sweeper, reward auto-confirmation, webhook retries, nightly
reconciliation. Each server process therefore starts one daemon thread on its first request
(`InlineSchedulerMiddleware`; a request is what tells a server process from a management
command, a test or a Celery worker, and runserver's autoreloader parent never serves one). The
thread calls the task functions directly, each at its interval (an interval entry also runs
once when the thread starts) or, for a crontab entry, at its next due time.

Several processes (gunicorn workers) must not all run the same job: before running a job a
process takes that job's lease and keeps it for its whole life. On PostgreSQL the lease is a
session advisory lock (`pg_try_advisory_lock`, one per job name) on a connection of its own;
on other databases an exclusive `flock` on a file per job and database. The other processes
try again at each due time, so when the holder exits (its session or file closes) another one
takes the job over. Settings: INLINE_SCHEDULER (default: true when CELERY_BROKER_URL is unset).

Behind PgBouncer in transaction mode (DB_POOLER=pgbouncer) a session lock would be taken on
whichever server session served that one statement, and stay there, held for (or released
under) somebody else. There the lease is a transaction-level lock instead
(`pg_try_advisory_xact_lock`), taken for one run in a transaction of its own connection that
stays open while the job runs (PgBouncer keeps a transaction on one server session) and ends
after it. No two processes ever run a job at once; each process runs it at its own due times
(the jobs are idempotent sweeps, so N processes cost N runs per interval, not wrong results).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import functools
import hashlib
import logging
import os
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from celery.schedules import BaseSchedule, schedule
from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

from config.celery import app

logger = logging.getLogger(__name__)

# First half of every advisory lock key, so the scheduler's locks stay apart from any others.
LOCK_NAMESPACE = 0x524C5348  # "RLSH"
MAX_SLEEP = 60.0  # seconds; re-reads the clock at least this often

Clock = Callable[[], datetime]


def lock_key(name: str) -> int:
    """A stable signed 32-bit key for a job name (the second half of its advisory lock)."""
    value = zlib.crc32(name.encode())
    return value - 2**32 if value >= 2**31 else value


# --- leases: which process runs a job ---------------------------------------------------------


class Leases(Protocol):
    def hold(self, name: str) -> bool:
        """True when this process holds the job's lease (taking it if it is free)."""
        ...

    def release(self, name: str) -> None:
        """The job's run ended (a lease held for the process's life stays held)."""
        ...

    def release_all(self) -> None: ...


class PostgresLeases:
    """Session advisory locks on a dedicated connection, held until the process ends (or the
    connection breaks): a job's own transactions and connection handling cannot drop them."""

    def __init__(self, alias: str = DEFAULT_DB_ALIAS) -> None:
        self.alias = alias
        self._db: Any = None
        self._held: set[str] = set()

    def _connection(self) -> Any:
        if self._db is not None and self._db.connection is not None and not self._db.is_usable():
            # The session is gone, and its locks with it: start over.
            with contextlib.suppress(Exception):
                self._db.close()
            self._db = None
            self._held.clear()
        if self._db is None:
            self._db = connections.create_connection(self.alias)
        return self._db

    def hold(self, name: str) -> bool:
        db = self._connection()
        if name in self._held:
            return True
        with db.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, lock_key(name)])
            taken = bool(cursor.fetchone()[0])
        if taken:
            self._held.add(name)
        return taken

    def release(self, name: str) -> None:
        pass

    def release_all(self) -> None:
        if self._db is not None:
            with contextlib.suppress(Exception):
                self._db.close()  # ends the session, which releases its advisory locks
        self._db = None
        self._held.clear()


class PostgresTransactionLeases:
    """For a transaction pooler: a job's lease is a transaction-level advisory lock, held from
    `hold` to `release` by a transaction left open on a connection of its own. Nothing lives in
    the session: the lock ends with the transaction, on whichever server session ran it."""

    def __init__(self, alias: str = DEFAULT_DB_ALIAS) -> None:
        self.alias = alias
        self._db: Any = None
        self._open: str | None = None  # the job whose transaction is open

    def _connection(self) -> Any:
        if self._db is not None and self._db.connection is not None and not self._db.is_usable():
            self.release_all()
        if self._db is None:
            self._db = connections.create_connection(self.alias)
        return self._db

    def hold(self, name: str) -> bool:
        if self._open is not None:
            self.release(self._open)
        db = self._connection()
        taken = False
        try:
            with db.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute(
                    "SELECT pg_try_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, lock_key(name)]
                )
                taken = bool(cursor.fetchone()[0])
                if not taken:
                    cursor.execute("ROLLBACK")
        except Exception:
            self.release_all()  # whatever state the transaction is in, it ends with the session
            raise
        if taken:
            self._open = name
        return taken

    def release(self, name: str) -> None:
        if self._open != name or self._db is None:
            return
        self._open = None
        try:
            with self._db.cursor() as cursor:
                cursor.execute("COMMIT")  # ends the transaction, and the lock with it
        except Exception:
            self.release_all()  # a broken connection: its transaction (and lock) are gone

    def release_all(self) -> None:
        if self._db is not None:
            with contextlib.suppress(Exception):
                self._db.close()
        self._db = None
        self._open = None


class FileLeases:
    """An exclusive flock(2) on one file per job, named after the database: the same hand-over
    between the processes of one machine, for SQLite."""

    def __init__(self, database: str, directory: Path | None = None) -> None:
        self.directory = directory or Path(tempfile.gettempdir())
        self.prefix = hashlib.sha256(str(database).encode()).hexdigest()[:16]
        self._held: dict[str, int] = {}

    def hold(self, name: str) -> bool:
        if name in self._held:
            return True
        path = self.directory / f"referral-ledger-scheduler-{self.prefix}-{name}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._held[name] = fd
        return True

    def release(self, name: str) -> None:
        pass

    def release_all(self) -> None:
        for fd in self._held.values():
            os.close(fd)  # closing the file releases its lock
        self._held.clear()


def leases_for(alias: str = DEFAULT_DB_ALIAS) -> Leases:
    connection = connections[alias]
    if connection.vendor == "postgresql":
        if getattr(settings, "DB_POOLER", ""):
            return PostgresTransactionLeases(alias)
        return PostgresLeases(alias)
    return FileLeases(str(connection.settings_dict["NAME"]))


# --- jobs and the scheduler -------------------------------------------------------------------


@dataclass
class Job:
    name: str
    run: Callable[[], Any]
    schedule: BaseSchedule
    last_run_at: datetime

    def due(self) -> tuple[bool, float]:
        """(is it due now, seconds until it is next due)."""
        is_due, next_in = self.schedule.is_due(self.last_run_at)
        return bool(is_due), float(next_in)


def jobs_from_schedule(
    entries: Mapping[str, Mapping[str, Any]],
    *,
    resolve: Callable[[str], Callable[..., Any]],
    clock: Clock = timezone.now,
) -> list[Job]:
    """Jobs for CELERY_BEAT_SCHEDULE-style entries: {"task", "schedule", "args"?, "kwargs"?},
    the schedule being seconds, a timedelta or a celery schedule (e.g. crontab)."""
    now = clock()
    jobs = []
    for name, entry in entries.items():
        value = entry["schedule"]
        if isinstance(value, int | float | timedelta):
            every = value if isinstance(value, timedelta) else timedelta(seconds=value)
            when: BaseSchedule = schedule(every, nowfun=clock)
            last = now - every  # due at once: a restart must not postpone the work
        else:
            when = copy.copy(value)  # the settings' object stays untouched
            when.nowfun = clock
            last = now  # e.g. nightly: at its next due time
        task = resolve(entry["task"])
        run = functools.partial(task, *entry.get("args", ()), **entry.get("kwargs", {}))
        jobs.append(Job(name=name, run=run, schedule=when, last_run_at=last))
    return jobs


class InlineScheduler:
    def __init__(self, jobs: list[Job], *, leases: Leases, clock: Clock = timezone.now) -> None:
        self.jobs = jobs
        self.leases = leases
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls) -> InlineScheduler:
        # Registers every app's tasks (Celery's own loader would also re-run django.setup()).
        autodiscover_modules("tasks")
        jobs = jobs_from_schedule(settings.CELERY_BEAT_SCHEDULE, resolve=app.tasks.__getitem__)
        return cls(jobs, leases=leases_for())

    def tick(self) -> float:
        """Run the jobs that are due (those whose lease this process holds); returns the
        seconds until the next one is due."""
        wait = MAX_SLEEP
        for job in self.jobs:
            is_due, next_in = job.due()
            if is_due:
                self._run(job)
                is_due, next_in = job.due()
            wait = min(wait, next_in)
        return max(wait, 0.0)

    def _run(self, job: Job) -> None:
        job.last_run_at = self.clock()
        try:
            if not self.leases.hold(job.name):
                logger.debug("Inline job %s: another process runs it", job.name)
                return
        except Exception:
            logger.exception("Inline job %s skipped: could not take its lease", job.name)
            return
        started = time.monotonic()
        try:
            result = job.run()
        except Exception:
            logger.exception(
                "Inline job %s failed after %.0f ms", job.name, (time.monotonic() - started) * 1e3
            )
        else:
            logger.info(
                "Inline job %s done in %.0f ms: %r",
                job.name,
                (time.monotonic() - started) * 1e3,
                result,
            )
        finally:
            try:
                self.leases.release(job.name)
            except Exception:
                logger.exception("Inline job %s: could not release its lease", job.name)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="inline-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        logger.info(
            "Inline scheduler started in process %s: %s",
            os.getpid(),
            ", ".join(job.name for job in self.jobs),
        )
        wait = 0.0
        try:
            while not self._stop.wait(wait):
                # As around a request: drop this thread's connection if it broke or grew old.
                close_old_connections()
                try:
                    wait = self.tick()
                except Exception:
                    logger.exception("Inline scheduler tick failed")
                    wait = MAX_SLEEP
        finally:
            self.leases.release_all()
            connections.close_all()  # this thread's connections


# --- one scheduler per server process ---------------------------------------------------------

_scheduler: InlineScheduler | None = None
_start_lock = threading.Lock()


def _forget_after_fork() -> None:
    # A forked child has none of the parent's threads: it starts its own on its first request.
    global _scheduler, _start_lock
    _scheduler = None
    _start_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def inline_scheduler_ensure_started() -> InlineScheduler:
    global _scheduler
    with _start_lock:
        if _scheduler is None:
            scheduler = InlineScheduler.from_settings()
            scheduler.start()
            _scheduler = scheduler
        return _scheduler


def inline_scheduler_stop(timeout: float | None = None) -> None:
    global _scheduler
    with _start_lock:
        if _scheduler is not None:
            _scheduler.stop(timeout)
            _scheduler = None


class InlineSchedulerMiddleware:
    """Starts this process's scheduler on its first request (settings.INLINE_SCHEDULER)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not settings.INLINE_SCHEDULER:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _scheduler is None:
            try:
                inline_scheduler_ensure_started()
            except Exception:  # never fail a request for it; the next one tries again
                logger.exception("Could not start the inline scheduler")
        return self.get_response(request)
