"""Start Debian's PgBouncer in transaction pooling mode in a temporary directory, in front of
a PostgreSQL server (tests/ops/test_pgbouncer.py, `make test-pgbouncer`).

`python -m tests.ops.pgbouncer HOST PORT` starts one in the foreground and prints its port."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BINARY = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"

CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {dir}/userlist.txt
admin_users = {user}
pool_mode = transaction
max_client_conn = 500
default_pool_size = {pool_size}
ignore_startup_parameters = extra_float_digits,options
logfile = {dir}/pgbouncer.log
pidfile = {dir}/pgbouncer.pid
server_idle_timeout = 30
"""


def available() -> bool:
    return os.path.exists(BINARY)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited: {log.read_text() if log.exists() else ''}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("pgbouncer did not start listening")


@contextmanager
def pgbouncer(
    host: str = "127.0.0.1", port: int = 5432, user: str = "postgres", pool_size: int = 20
) -> Iterator[int]:
    """A running PgBouncer (transaction mode) in front of host:port; yields its port."""
    directory = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    listen = _free_port()
    (directory / "userlist.txt").write_text(f'"{user}" ""\n')
    (directory / "pgbouncer.ini").write_text(
        CONFIG.format(
            host=host, port=port, listen=listen, dir=directory, user=user, pool_size=pool_size
        )
    )
    command = [BINARY, "-q", str(directory / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root: it drops to postgres
        account = pwd.getpwnam("postgres")
        os.chown(directory, account.pw_uid, account.pw_gid)
        for f in directory.iterdir():
            os.chown(f, account.pw_uid, account.pw_gid)
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(listen, process, directory / "pgbouncer.log")
        yield listen
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def admin(port: int, command: str, user: str = "postgres") -> list[list[str]]:
    """Rows of an admin console command (SHOW STATS...), through psql (simple query protocol,
    the only one the console speaks)."""
    out = subprocess.run(
        [
            *("psql", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", "pgbouncer"),
            *("-AtF", "|", "-c", command),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split("|") for line in out.splitlines() if line]


if __name__ == "__main__":
    upstream_host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    upstream_port = int(sys.argv[2]) if len(sys.argv) > 2 else 5432
    with pgbouncer(upstream_host, upstream_port) as listening:
        print(listening, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
