"""Celery workers keep their database connection between tasks (settings.CELERY_DB_REUSE_MAX,
config/celery.py), like web processes do between requests."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import connection

from config.celery import app


class _Task:
    request = SimpleNamespace(is_eager=False)


def _run_task(fixup: DjangoWorkerFixup) -> None:
    """What a worker does around a task: the fixup's hooks and the signals."""
    task = _Task()
    task_prerun.send(sender=task)
    fixup.on_task_prerun(sender=task)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    task_postrun.send(sender=task)
    fixup.on_task_postrun(sender=task)


# PostgreSQL: settings give its connections a CONN_MAX_AGE; SQLite's close after each task.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_between_tasks():
    fixup = DjangoWorkerFixup(app)
    assert fixup.db_reuse_max
    connection.ensure_connection()
    before = connection.connection
    for _ in range(3):
        _run_task(fixup)
    assert connection.connection is before


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_that_died_between_tasks_is_replaced():
    import psycopg

    fixup = DjangoWorkerFixup(app)
    _run_task(fixup)
    dead = connection.connection.info.backend_pid
    with psycopg.connect(**{**connection.get_connection_params(), "autocommit": True}) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [dead])
    _run_task(fixup)  # would raise OperationalError if the dead connection were used
    assert connection.connection.info.backend_pid != dead
