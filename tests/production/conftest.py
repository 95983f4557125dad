"""Fixtures for the production tests: a real HTTP receiver on 127.0.0.1 (no external network)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Receiver:
    """Answers each POST with the next status of `statuses` (then 200) and records it."""

    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    hold: bool = False  # when set, requests wait for `release` before answering

    def json(self, i: int = -1) -> dict:
        return json.loads(self.requests[i].body)


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            state.requests.append(Received(self.path, dict(self.headers.items()), body))
            if state.hold:
                state.release.wait(timeout=30)
            status = state.statuses.pop(0) if state.statuses else 200
            payload = f'{{"received": {len(state.requests)}}}'.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format, *args):  # keep the test output clean
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


def wait_for_webhooks() -> None:
    """Wait for the pool that delivers webhooks when no broker is configured to finish its jobs."""
    from config.platform.webhooks.tasks import webhook_inline_wait

    assert webhook_inline_wait(timeout=60), "a webhook delivery job is stuck"


@pytest.fixture
def allow_local_webhooks(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.CELERY_BROKER_URL = ""
    yield
    wait_for_webhooks()  # none may touch the database once the test is torn down
