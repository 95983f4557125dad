"""Celery application. Used only when CELERY_BROKER_URL is set; otherwise work runs inline."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("referral_ledger")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _task_connections(**kwargs):
    """A task is treated like a web request: Django's close_old_connections keeps the worker's
    database connection up to CONN_MAX_AGE and re-arms the health check, so a connection that
    died meanwhile is replaced before the task uses it (Celery's fixup no longer closes it
    after every task: settings.CELERY_DB_REUSE_MAX)."""
    from django.db import close_old_connections

    close_old_connections()
