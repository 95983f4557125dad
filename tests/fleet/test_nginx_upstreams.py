"""The shipped config/nginx.conf with two upstreams, against two small HTTP servers instead of
gunicorn (no database: these run on SQLite too): what docs/OPERATIONS.md ("Running more than
one") says nginx does when an instance is gone or dies mid-request.

- An instance that refuses connections costs nothing: every request, POSTs included, is
  answered by the other one (nginx passes a request it could not send on to the next instance).
- A POST that reached an instance which then died without answering is not sent again: the
  client gets a 502 and must retry with its idempotency key. A GET in the same situation is
  passed on to the other instance.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from bench._harness import free_port
from tests.fleet.conftest import NGINX, Nginx, nginx_site

pytestmark = pytest.mark.skipif(
    NGINX is None, reason="needs nginx (Debian's package `nginx`: `make system-deps`)"
)


class Upstream:
    """A threaded HTTP server on a free port that records the `X-Op` header of every request it
    reads; `swallow`: it reads the request, then closes the connection without an answer (a
    gunicorn worker SIGKILLed mid-request)."""

    def __init__(self, name: str, *, swallow: bool = False) -> None:
        self.seen: list[str] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                upstream.seen.append(self.headers.get("X-Op", ""))
                if swallow:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                body = name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _any

            def log_message(self, format, *args):  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def live() -> Iterator[Upstream]:
    server = Upstream("live")
    yield server
    server.close()


def _proxy(tmp_path, upstreams: list[int]) -> Iterator[Nginx]:
    nginx = Nginx(tmp_path / "nginx", upstreams)
    try:
        yield nginx.start()
    finally:
        nginx.stop()


def test_each_instance_gets_the_shipped_upstream_line():
    site = nginx_site([8101, 8102], 9100)
    lines = re.findall(r"^ *server 127\.0\.0\.1:\d+.*$", site, re.MULTILINE)
    assert [line.strip() for line in lines] == [
        "server 127.0.0.1:8101 max_fails=3 fail_timeout=5s;  # gunicorn",
        "server 127.0.0.1:8102 max_fails=3 fail_timeout=5s;  # gunicorn",
    ]
    assert "listen 127.0.0.1:9100;" in site
    directives = [line for line in site.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in directives if ":8000" in line or "listen 80;" in line]


def test_an_instance_that_is_down_costs_no_request(tmp_path, live):
    down = free_port()  # nothing listens there: connections are refused
    for nginx in _proxy(tmp_path, [down, live.port]):
        with httpx.Client(base_url=nginx.url, timeout=10) as client:
            answers = [
                client.post("/api/x", json={"n": n}, headers={"X-Op": f"post-{n}"})
                for n in range(10)
            ]
            answers += [client.get("/healthz", headers={"X-Op": f"get-{n}"}) for n in range(10)]
    assert [(a.status_code, a.text) for a in answers] == [(200, "live")] * 20
    assert sorted(live.seen) == sorted(
        [f"post-{n}" for n in range(10)] + [f"get-{n}" for n in range(10)]
    )


def test_a_post_that_reached_a_dying_instance_is_not_sent_again(tmp_path, live):
    dying = Upstream("dying", swallow=True)
    try:
        # Each phase with an nginx of its own: three failures take the dying instance out of
        # rotation for 5 s, and the second phase must reach it too.
        for nginx in _proxy(tmp_path / "posts", [dying.port, live.port]):
            with httpx.Client(base_url=nginx.url, timeout=10) as client:
                posts = {
                    f"post-{n}": client.post("/api/x", json={}, headers={"X-Op": f"post-{n}"})
                    for n in range(6)
                }
        for nginx in _proxy(tmp_path / "gets", [dying.port, live.port]):
            with httpx.Client(base_url=nginx.url, timeout=10) as client:
                gets = {
                    f"get-{n}": client.get("/healthz", headers={"X-Op": f"get-{n}"})
                    for n in range(6)
                }
    finally:
        dying.close()
    # Each POST reached exactly one instance; those the dying one read got a 502 from nginx.
    for op, answer in posts.items():
        assert (op in dying.seen) + (op in live.seen) == 1, (op, dying.seen, live.seen)
        assert answer.status_code == (502 if op in dying.seen else 200), (op, answer)
    assert any(op in dying.seen for op in posts), "no POST went to the dying instance"
    # A GET (idempotent) that the dying instance swallowed was passed on to the other one.
    assert [a.status_code for a in gets.values()] == [200] * len(gets)
    assert all(op in live.seen for op in gets)
    assert any(op in dying.seen for op in gets), "no GET went to the dying instance"
