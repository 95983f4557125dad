"""The buffering proxy docs/OPERATIONS.md asks for, run from the shipped config/nginx.conf in
front of gunicorn (config/gunicorn.conf.py), both on free loopback ports in a temporary
directory. More slow clients than gunicorn has threads, each sending its request body one byte
at a time, wedge gunicorn when they reach it directly; through nginx a normal request is answered
while they are all still sending. No wall-clock threshold: the direct request is shown to wait
ten times as long as the proxied one took, and to be answered once the slow clients go away."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "nginx.conf"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
)
GUNICORN = Path(sys.executable).parent / "gunicorn"
WORKERS, THREADS = 1, 2  # gunicorn serves two requests at a time
SLOW_CLIENTS = WORKERS * THREADS + 2
CSRF = "a" * 32  # a well-formed CSRF cookie, so the login view reads the body before answering

pytestmark = pytest.mark.skipif(
    NGINX is None, reason="needs nginx (Debian's package `nginx`: `make system-deps`)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture
def gunicorn(tmp_path) -> Iterator[int]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DJANGO_SECRET_KEY": "proxy-test-not-secret",
        "FIELD_ENCRYPTION_KEYS": "cHJveHktdGVzdC1maWVsZC1rZXktbm90LXNlY3JldCE=",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path}/unused.sqlite3",
        "INLINE_SCHEDULER": "false",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(WORKERS),
        "GUNICORN_THREADS": str(THREADS),
        "GUNICORN_TIMEOUT": "120",
        "GUNICORN_ACCESS_LOG": "",
        "LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(GUNICORN), "-c", "config/gunicorn.conf.py", "config.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, proc, log)
        yield port
    finally:
        stop(proc)


@pytest.fixture
def nginx(tmp_path, gunicorn) -> Iterator[int]:
    """nginx with the shipped server block, its listen port and upstream address moved to free
    loopback ports and every file it writes under tmp_path."""
    port = free_port()
    site = SHIPPED.read_text()
    site, listens = re.subn(r"listen 80;", f"listen 127.0.0.1:{port};", site)
    site, upstreams = re.subn(r"server 127\.0\.0\.1:8000\b", f"server 127.0.0.1:{gunicorn}", site)
    assert listens == 1 and upstreams == 1, "config/nginx.conf changed shape: update this test"
    (tmp_path / "site.conf").write_text(site)
    temp = {name: tmp_path / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    user = "user root root;" if os.geteuid() == 0 else ""  # workers may write to tmp_path
    (tmp_path / "nginx.conf").write_text(
        f"""
{user}
daemon off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {tmp_path}/site.conf;
}}
"""
    )
    assert NGINX is not None  # the module is skipped without it
    command = [NGINX, "-p", str(tmp_path), "-e", str(tmp_path / "error.log")]
    command += ["-c", str(tmp_path / "nginx.conf")]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    log = tmp_path / "error.log"
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_for_port(port, proc, log)
        yield port
    finally:
        stop(proc)
    assert not (tmp_path / "nginx.pid").exists(), "nginx is still running"


class SlowClient:
    """A form POST to the admin login whose body trickles in one byte at a time."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        body_length = 10_000
        self.sock.sendall(
            (
                "POST /admin/login/ HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Cookie: csrftoken={CSRF}\r\n"
                f"Content-Length: {body_length}\r\n\r\n"
            ).encode()
        )
        self.stopped = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._trickle, args=(body_length,), daemon=True)
        self.thread.start()

    def _trickle(self, length: int) -> None:
        while self.sent < length and not self.stopped.wait(0.1):
            try:
                self.sock.sendall(b"a")
            except OSError:
                return
            self.sent += 1

    def answered(self) -> bool:
        self.sock.setblocking(False)
        try:
            return bool(self.sock.recv(1, socket.MSG_PEEK))
        except BlockingIOError:
            return False
        finally:
            self.sock.setblocking(True)

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.sock.close()


def get(port: int, path: str, timeout: float) -> tuple[int, float]:
    """GET with a raw socket; (status, seconds it took)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
        )
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1]), time.monotonic() - started


def open_slow_clients(port: int) -> list[SlowClient]:
    clients = [SlowClient(port) for _ in range(SLOW_CLIENTS)]
    while min(c.sent for c in clients) < 5:  # every one has started on its body
        time.sleep(0.05)
    return clients


def test_a_buffering_proxy_keeps_gunicorn_answering_while_slow_clients_send(gunicorn, nginx):
    assert get(nginx, "/healthz", timeout=30)[0] == 200

    # Through nginx: the slow bodies stay in nginx; gunicorn answers the normal request.
    slow = open_slow_clients(nginx)
    try:
        status, proxied = get(nginx, "/healthz", timeout=60)
        assert status == 200
        assert not any(c.answered() for c in slow)  # all still sending: none reached gunicorn
        assert all(c.thread.is_alive() for c in slow)
    finally:
        for client in slow:
            client.close()

    # The same clients straight at gunicorn take every thread it has: a normal request waits
    # ten times as long as the proxied one took, unanswered, and is answered once they leave.
    slow = open_slow_clients(gunicorn)
    result: list[tuple[int, float]] = []
    direct = threading.Thread(target=lambda: result.append(get(gunicorn, "/healthz", 120)))
    try:
        direct.start()
        direct.join(timeout=max(10 * proxied, 1.0))
        assert direct.is_alive() and not result, "gunicorn answered while its threads were busy"
    finally:
        for client in slow:
            client.close()
    direct.join(timeout=120)
    assert result and result[0][0] == 200
