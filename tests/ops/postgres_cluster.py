"""Throw-away PostgreSQL servers for the replica test: a primary (initdb) and a streaming
replica of it (pg_basebackup -R), with Debian's binaries, on free ports in a temporary directory.
initdb refuses to run as root: as root the servers run as the `postgres` account."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_basebackup"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class Server:
    port: int
    data: Path

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"


@contextmanager
def primary_and_replica() -> Iterator[tuple[Server, Server]]:
    bin_ = bindir()
    assert bin_ is not None, "PostgreSQL server binaries not found"
    root = Path(tempfile.mkdtemp(prefix="pg-replica-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
    primary = Server(_free_port(), root / "primary")
    replica = Server(_free_port(), root / "replica")
    started: list[Server] = []

    def run(*command: str) -> None:
        subprocess.run(_as_owner(list(command)), check=True, capture_output=True, cwd=root)

    def start(server: Server) -> None:
        options = (
            f"-p {server.port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off"
            " -c wal_level=replica -c max_wal_senders=5 -c hot_standby=on"
        )
        run(str(bin_ / "pg_ctl"), "-D", str(server.data), "-o", options, "-l",
            str(root / f"{server.data.name}.log"), "-w", "start")  # fmt: skip
        started.append(server)

    try:
        run(str(bin_ / "initdb"), "-D", str(primary.data), "-U", "postgres", "--auth=trust")
        start(primary)
        run(str(bin_ / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
            "-U", "postgres", "-D", str(replica.data), "-R", "-X", "stream")  # fmt: skip
        start(replica)
        yield primary, replica
    finally:
        for server in reversed(started):
            subprocess.run(
                _as_owner(
                    [str(bin_ / "pg_ctl"), "-D", str(server.data), "-m", "immediate", "stop"]
                ),
                capture_output=True,
                cwd=root,
            )
        shutil.rmtree(root, ignore_errors=True)


def wait_for_replay(primary_dsn: str, replica_dsn: str, timeout: float = 60) -> None:
    """Until the replica has replayed everything the primary has written so far."""
    import psycopg

    with psycopg.connect(primary_dsn, autocommit=True) as p:
        target = p.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
    deadline = time.monotonic() + timeout
    with psycopg.connect(replica_dsn, autocommit=True) as r:
        while time.monotonic() < deadline:
            row = r.execute(
                "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s) >= 0", [target]
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.05)
    raise TimeoutError("the replica did not catch up")
