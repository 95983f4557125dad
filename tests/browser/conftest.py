"""Shared browser fixtures: Debian's Chromium (never a downloaded one) driven by
pytest-playwright against pytest-django's live_server, with a logged-in staff user.

Use `staff_page` (a Page whose context holds a staff session for `live_server`) and
`page_errors` (console errors and uncaught exceptions; `staff_page` fails the test on any at
teardown, except ones a test allows with `page_errors.allow(...)`)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from a
# thread with a running loop unless told it is safe (it is: the loop only drives the browser).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
STAFF_PASSWORD = "staff-password-for-tests"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not CHROMIUM.exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: install Debian's package (`make browser-deps` or "
            "`apt-get install chromium`) to run the browser tests"
        )
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "viewport": {"width": 1600, "height": 1000}}


class PageErrors:
    """Console errors and page exceptions seen by a page. A test that expects some (the
    editor's live validation answers 400 for an unfinished rule) allows them by pattern."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        # Chromium sometimes asks for /favicon.ico on its own; that is the browser, not a page.
        self.allowed: list[re.Pattern[str]] = [
            re.compile(r"status of 404 .*\[[^\]]*/favicon\.ico\]$")
        ]

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]

    def console(self, message) -> None:
        if message.type == "error":
            url = (message.location or {}).get("url", "")
            self.errors.append(f"console: {message.text} [{url}]")

    def page_error(self, error) -> None:
        self.errors.append(f"pageerror: {error}")


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def staff_user(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(
        username="staff", password=STAFF_PASSWORD, is_staff=True, is_superuser=True
    )


@pytest.fixture
def staff_page(page, live_server, staff_user, page_errors: PageErrors) -> Iterator:
    """A page logged in as a staff user (the session cookie of a real login)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(staff_user)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page.on("console", page_errors.console)
    page.on("pageerror", page_errors.page_error)
    page.set_default_timeout(15_000)
    yield page
    unexpected = page_errors.unexpected()
    assert not unexpected, "errors in the browser:\n" + "\n".join(unexpected)
