"""A real SMTP server for the email tests (aiosmtpd on a free local port), and the settings that
point Django's mailer at it. Tests start, stop and restart it to play a mail server that is down.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from django.test import override_settings

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Collect:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"


class SmtpServer:
    """aiosmtpd in a thread. `messages` are what it received, parsed (EmailMessage)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(_Collect(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self, **extra: Any) -> override_settings:
        """Django's default mailer sending to this server over SMTP."""
        mailer = {
            "BACKEND": SMTP_BACKEND,
            "OPTIONS": {"host": "127.0.0.1", "port": self.port, "timeout": 5},
        }
        return override_settings(MAILERS={"default": mailer}, **extra)

    def received(self, count: int = 1, timeout: float = 15.0) -> list[EmailMessage]:
        """The messages, once there are at least `count` (a failure after `timeout` s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return part.get_content()
