"""The fleet the multi-instance test runs (docs/OPERATIONS.md, "Running more than one"): two
gunicorn instances behind nginx with the shipped config/nginx.conf (its upstream templated to
the two instances' ports), two Celery workers and one beat on RabbitMQ, in a RabbitMQ vhost of
their own that is deleted afterwards. Every process runs in its own process group and is
stopped at teardown, whatever happened, before pytest-django flushes the database."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench._harness import PYTHON, ROOT, Gunicorn, _stop_group, free_port, server_env
from tests.chaos import test_bank as chaos
from tests.chaos.conftest import live_database_url

SHIPPED_NGINX = ROOT / "config" / "nginx.conf"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
)
RABBITMQCTL = shutil.which("rabbitmqctl") or (
    "/usr/sbin/rabbitmqctl" if os.access("/usr/sbin/rabbitmqctl", os.X_OK) else None
)
RABBITMQ = os.environ.get("FLEET_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672")
LOG_DIR = os.environ.get("FLEET_LOG_DIR")  # default: the test's own tmp_path (runs never mix)

bank = chaos.bank  # the chaos test's program, key, rule and funded bank accounts


def _port_open(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def nginx_site(upstreams: list[int], listen: int) -> str:
    """config/nginx.conf as shipped, listening on `listen` with one `server` line per upstream
    port in place of the shipped single upstream (everything else untouched)."""
    site = SHIPPED_NGINX.read_text()
    site, listens = re.subn(r"listen 80;", f"listen 127.0.0.1:{listen};", site)
    line = re.compile(r"^ *server 127\.0\.0\.1:8000\b.*$", re.MULTILINE)
    shipped = line.findall(site)

    def one_per_upstream(match: re.Match) -> str:
        return "\n".join(match[0].replace(":8000", f":{port}") for port in upstreams)

    site, replaced = line.subn(one_per_upstream, site)
    assert len(shipped) == 1
    assert listens == 1 and replaced == 1, "config/nginx.conf changed shape: update this fixture"
    return site


@dataclass
class Nginx:
    """nginx (Debian's) with the templated site, every file it writes under `root`; its access
    log names the upstream that answered each request."""

    root: Path
    upstreams: list[int]
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.root / "access.log"

    def configure(self) -> list[str]:
        """Write the configuration (a new listen port), check it with `nginx -t`; returns the
        command that runs it."""
        assert NGINX is not None
        self.port = free_port()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "site.conf").write_text(nginx_site(self.upstreams, self.port))
        temps = "\n".join(
            f"    {name}_temp_path {self.root / name};"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user root root;" if os.geteuid() == 0 else ""  # workers write under root
        (self.root / "nginx.conf").write_text(
            f"""
{user}
daemon off;
worker_processes 1;
pid {self.root}/nginx.pid;
error_log {self.root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format upstream '$upstream_addr $status $request_method $uri';
    access_log {self.access_log} upstream;
{temps}
    include {self.root}/site.conf;
}}
"""
        )
        command = [NGINX, "-p", str(self.root), "-e", str(self.root / "error.log")]
        command += ["-c", str(self.root / "nginx.conf")]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        return command

    def start(self) -> Nginx:
        command = self.configure()
        self.proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while not _port_open("127.0.0.1", self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.root / "error.log").read_text()[-3000:])
            time.sleep(0.1)
        return self

    def answered_by(self) -> dict[str, int]:
        """Requests each upstream address answered (the last one nginx tried, for a request
        it passed on after a failure), from the access log."""
        counts: dict[str, int] = {}
        if self.access_log.exists():
            for line in self.access_log.read_text().splitlines():
                upstream = line.split(" ", 1)[0].split(",")[-1].strip()
                counts[upstream] = counts.get(upstream, 0) + 1
        return counts

    def stop(self) -> None:
        if self.proc is not None:
            _stop_group(self.proc)


class WebInstance(Gunicorn):
    """One gunicorn instance (config/gunicorn.conf.py) on a fixed port, which can be SIGKILLed
    whole (master and workers) and started again on the same port."""

    def kill(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class Celery:
    """`celery -A config worker|beat` as a process group with a log file of its own."""

    def __init__(self, env: dict[str, str], args: list[str], log: Path):
        self.env, self.args, self.log_path = env, args, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> Celery:
        with self.log_path.open("a") as log:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "celery", "-A", "config", *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill(self) -> None:
        """SIGKILL the whole group: no warm shutdown, tasks in flight are lost."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            _stop_group(self.proc)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


@dataclass
class Fleet:
    nginx: Nginx
    web: list[WebInstance]
    workers: list[Celery]
    beat: Celery
    env: dict[str, str]
    vhost: str


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess:
    assert RABBITMQCTL is not None
    return subprocess.run(
        [RABBITMQCTL, *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def rabbitmq_vhost() -> Iterator[str]:
    """A RabbitMQ vhost for this run only (so two runs never share a queue), deleted after."""
    if NGINX is None:
        pytest.skip("needs nginx (Debian's package `nginx`: `make system-deps`)")
    if RABBITMQCTL is None:
        pytest.skip("needs RabbitMQ's rabbitmqctl (Debian's `rabbitmq-server`) for a vhost")
    if not _port_open("127.0.0.1", 5672):
        pytest.skip("RabbitMQ is not listening on 127.0.0.1:5672 (`rabbitmq-server -detached`)")
    vhost = f"fleet-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    created = _rabbitmqctl("add_vhost", vhost)
    if created.returncode != 0:
        pytest.skip(f"rabbitmqctl add_vhost failed: {created.stderr.strip()[:300]}")
    try:
        granted = _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        assert granted.returncode == 0, granted.stderr
        yield vhost
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture
def fleet(transactional_db, rabbitmq_vhost, tmp_path) -> Iterator[Fleet]:
    """Two web instances behind nginx, two workers and beat, all on this test's committed
    database; started in that order of need, stopped in reverse whatever happens."""
    logs = Path(LOG_DIR) if LOG_DIR else tmp_path / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = server_env(
        live_database_url(),
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DJANGO_BEHIND_PROXY="true",
        CELERY_BROKER_URL=f"{RABBITMQ}/{rabbitmq_vhost}",
        # Beat sends the stuck-event sweep every few seconds instead of every minute, so a short
        # run sees it at work; the other entries keep their periods (confirming rewards early
        # would change the statuses the audit expects).
        EVENT_REQUEUE_SWEEP_SECONDS="5",
    )
    web_log = (logs / "web.log").open("w")
    web = [WebInstance(env, workers=2, threads=1, log=web_log) for _ in range(2)]
    workers = [
        Celery(
            {**env, "LOG_LEVEL": "INFO"},
            [
                *("worker", "--loglevel=INFO", "--concurrency=2", "--pool=prefork"),
                *("--without-heartbeat", "--without-gossip", "--without-mingle"),
                f"--hostname=w{n}@%h",
            ],
            logs / f"worker{n}.log",
        )
        for n in (1, 2)
    ]
    for worker in workers:
        worker.log_path.write_text("")
    beat_log = logs / "beat.log"
    beat_log.write_text("")
    beat = Celery(
        {**env, "LOG_LEVEL": "INFO"},
        ["beat", "--loglevel=INFO", "-s", str(tmp_path / "celerybeat-schedule")],
        beat_log,
    )
    nginx = Nginx(tmp_path / "nginx", [instance.port for instance in web])
    processes: list[Celery | WebInstance | Nginx] = [*workers, beat, *web, nginx]
    try:
        for thing in processes:
            thing.start()
        yield Fleet(nginx, web, workers, beat, env, rabbitmq_vhost)
    finally:
        with contextlib.suppress(Exception):
            nginx.stop()
        # The rest at once: each stop may wait out a graceful shutdown.
        stoppers = [
            threading.Thread(target=thing.stop) for thing in processes if thing is not nginx
        ]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join(60)
        web_log.close()
