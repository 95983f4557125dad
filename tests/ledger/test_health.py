"""/healthz and /readyz (config/platform/health.py)."""

from __future__ import annotations

import logging

import pytest
from django.db import OperationalError
from django.db.backends.utils import CursorWrapper

from config.platform import health

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_process(monkeypatch):
    monkeypatch.setattr(health, "_migrated", False)


def test_ready_checks_migrations_until_they_are_applied(client, monkeypatch):
    plans = []
    real = health.MigrationExecutor.migration_plan

    def plan(self, targets, *args, **kwargs):
        plans.append(targets)
        return real(self, targets, *args, **kwargs)

    monkeypatch.setattr(health.MigrationExecutor, "migration_plan", plan)
    for _ in range(3):
        r = client.get("/readyz")
        assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert len(plans) == 1  # remembered once applied


def test_unapplied_migrations_are_503_and_checked_again(client, monkeypatch):
    monkeypatch.setattr(health.MigrationExecutor, "migration_plan", lambda self, t: [1, 2])
    for _ in range(2):
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json() == {"status": "unavailable", "detail": "2 migrations not applied"}
    assert health._migrated is False


def test_database_failure_is_503_without_leaking_the_error(client, monkeypatch, caplog):
    def fail(self, sql, params=None):
        raise OperationalError('connection to server at "db.internal" failed for user "admin"')

    monkeypatch.setattr(CursorWrapper, "execute", fail)
    with caplog.at_level(logging.ERROR, logger="config.platform.health"):
        r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "detail": "database unavailable"}
    assert "db.internal" not in r.content.decode()
    assert "db.internal" in caplog.text  # the operator still sees why
