"""Process helpers shared by bench/load.py and tests/chaos: scratch PostgreSQL databases, a
gunicorn server and a Celery worker started as child processes on 127.0.0.1, stopped for sure.

Every child runs in its own session (process group), so stopping it also stops what it forked
(gunicorn workers, Celery pool processes) and nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# The workload's one published rule (bench/load.py, tests/chaos): every purchase rewards its user.
EVERY_PURCHASE_RULE = {
    "name": "Every purchase rewards its user",
    "trigger": "purchase",
    "priority": 10,
    "stop_processing": False,
    "conditions": {"operator": "AND", "conditions": []},
    "actions": [
        {
            "type": "credit_reward",
            "params": {
                "beneficiary": "referred",
                "amount": 100,
                "currency": "INR",
                "reward_type": "points",
            },
        }
    ],
}
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(name: str, base: str = PG_ADMIN_URL) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_recreate(name: str) -> str:
    """Drop and create a scratch database; returns its URL."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(name)


def database_drop(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def django_on_scratch_database(name: str) -> Iterator[None]:
    """Django set up in this process on a fresh, migrated scratch database `name`, dropped on
    the way out (for benchmarks that call the services directly)."""
    import base64
    import secrets

    os.environ.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(40),
        FIELD_ENCRYPTION_KEYS=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        DATABASE_URL=database_recreate(name),
        DJANGO_SETTINGS_MODULE="config.settings.base",
        CELERY_BROKER_URL="",
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    try:
        call_command("migrate", verbosity=0)
        yield
    finally:
        connections.close_all()
        database_drop(name)


def backends_terminate(dbname: str, *, spare: tuple[int, ...] = ()) -> int:
    """pg_terminate_backend every session on `dbname` except ours and `spare`; returns how many."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND NOT (pid = ANY(%s))",
            [dbname, list(spare)],
        ).fetchall()
    return sum(1 for (ok,) in rows if ok)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    """Direct children of a process (from /proc; no psutil needed)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: split after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def _stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # orphans of a dead leader, if any
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def server_env(database: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
        "GUNICORN_ACCESS_LOG": "",  # access log off: the bench measures, it does not audit
    }
    env.update(extra)
    return env


class Gunicorn:
    """gunicorn with the project's config (config/gunicorn.conf.py) on 127.0.0.1:<free port>."""

    def __init__(self, env: dict[str, str], *, workers: int = 4, threads: int = 1, log=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **env,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": str(workers),
            "GUNICORN_THREADS": str(threads),
        }
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> Gunicorn:
        cmd = [PYTHON, "-m", "gunicorn", "-c", str(ROOT / "config" / "gunicorn.conf.py")]
        cmd.append("config.wsgi")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=self.log or subprocess.DEVNULL,
            stderr=self.log or subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_http(f"{self.url}/healthz", timeout=timeout, proc=self.proc)
        return self

    def workers(self) -> list[int]:
        return children_of(self.proc.pid) if self.proc else []

    def stop(self) -> None:
        if self.proc is not None:
            _stop_group(self.proc)


class CeleryWorker:
    """`celery -A config worker` in its own process group; kill() SIGKILLs the whole group."""

    def __init__(
        self, env: dict[str, str], *, concurrency: int = 2, pool: str = "prefork", log=None
    ):
        self.env = env
        self.concurrency = concurrency
        self.pool = pool
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> CeleryWorker:
        cmd = [PYTHON, "-m", "celery", "-A", "config", "worker", "--loglevel=WARNING"]
        cmd += [f"--concurrency={self.concurrency}", f"--pool={self.pool}", "--without-heartbeat"]
        cmd += ["--without-gossip", "--without-mingle"]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=self.log or subprocess.DEVNULL,
            stderr=self.log or subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """SIGKILL the worker and its pool: no warm shutdown, tasks in flight are lost."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            _stop_group(self.proc)


def wait_http(url: str, *, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout} s")
        time.sleep(0.2)


@contextlib.contextmanager
def stopping(*things: Gunicorn | CeleryWorker) -> Iterator[None]:
    """Stop every started process on exit, Ctrl-C included."""
    try:
        yield
    finally:
        for thing in reversed(things):
            thing.stop()


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds of a process tree (a gunicorn or Celery master and its workers) at one
    moment: the master's own, what it has reaped of its exited children (cutime + cstime) and
    each live child's, by pid."""

    own: float = 0.0
    reaped: float = 0.0
    children: dict[int, float] = field(default_factory=dict)


def cpu_sample(master: int | None) -> CpuSample:
    if not master:
        return CpuSample()
    try:
        fields = Path(f"/proc/{master}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return CpuSample()
    tick = os.sysconf("SC_CLK_TCK")
    own = (int(fields[11]) + int(fields[12])) / tick
    reaped = (int(fields[13]) + int(fields[14])) / tick
    return CpuSample(own, reaped, {pid: process_cpu(pid) for pid in children_of(master)})


def cpu_between(a: CpuSample, b: CpuSample) -> float:
    """CPU seconds the tree used between two samples. A child alive at both counts its
    difference; one started in between counts whole; one that exited in between (a worker
    gunicorn recycled after max_requests) counts what the master reaped of it less what it had
    at the first sample. Summing the live children at each end instead, as this bench did,
    lost a recycled worker's CPU and could go negative (-1.91 ms per /healthz request)."""
    total = (b.own - a.own) + (b.reaped - a.reaped)
    for pid, cpu in b.children.items():
        total += cpu - a.children.get(pid, 0.0)
    for pid, cpu in a.children.items():
        if pid not in b.children:
            total -= cpu
    return total
