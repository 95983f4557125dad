"""Fixtures for the fault-injection tests: the real servers (gunicorn, a Celery worker on
Redis) as child processes on the committed test database, always stopped afterwards."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from django.db import connection

from bench._harness import CeleryWorker, Gunicorn, server_env

logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise

BROKER = "redis://127.0.0.1:6379/14"
LOG = Path(os.environ.get("CHAOS_LOG", "/tmp/chaos_servers.log"))


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(BROKER, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def live_database_url() -> str:
    """The URL of the database this test runs on (pytest-django's test_<name>)."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def broker() -> str:
    if not _redis_reachable():
        pytest.skip(f"Redis is not reachable at {BROKER}; the chaos test needs a real broker")
    import redis

    redis.Redis.from_url(BROKER).flushdb()  # no tasks left over from an earlier run
    return BROKER


@pytest.fixture
def server_environment(transactional_db, broker) -> dict[str, str]:
    """What gunicorn, Celery and manage.py need to work on this test's committed database."""
    return server_env(
        live_database_url(),
        DJANGO_SETTINGS_MODULE="config.settings.test",
        CELERY_BROKER_URL=broker,
    )


@pytest.fixture
def servers(server_environment):
    """(gunicorn, celery worker), started; both process groups are killed at teardown, before
    pytest-django flushes the database."""
    log = LOG.open("w")
    web = Gunicorn(server_environment, workers=4, log=log)
    worker = CeleryWorker(server_environment, concurrency=2, log=log)
    try:
        worker.start()
        web.start()
        yield web, worker
    finally:
        web.stop()
        worker.stop()
        log.close()
