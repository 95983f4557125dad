"""Events processed by a real Celery worker over the local Redis broker."""

from __future__ import annotations

import time

import pytest

from ledger.models import Reward
from rules.models import Event
from tests.rules.conftest import ALWAYS, reward_action, rule_def

BROKER = "redis://127.0.0.1:6379/15"


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(BROKER, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def celery_on_redis(settings):
    """Point the project's Celery app at the test broker (and back afterwards)."""
    if not _redis_reachable():
        pytest.skip(f"Redis is not reachable at {BROKER}")
    import redis

    from config.celery import app

    redis.Redis.from_url(BROKER).flushdb()  # no leftovers from earlier runs
    settings.CELERY_BROKER_URL = BROKER
    saved = app.conf.broker_url

    def use(url):
        app.conf.broker_url = url
        # The connection and producer pools cache connections to the old URL.
        if app._pool is not None:
            app._pool.force_close_all()
            app._pool = None
        app.amqp._producer_pool = None

    use(BROKER)
    yield app
    use(saved)


def wait_for(predicate, *, attempts: int = 600) -> bool:
    """Poll until the worker has done its job (a liveness guard, not a timing assertion)."""
    for _ in range(attempts):
        if predicate():
            return True
        time.sleep(0.1)
    return False


# PostgreSQL only: the worker thread and the test write at the same time, and SQLite's shared
# in-memory test database refuses concurrent writers instead of waiting for them.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_events_are_processed_by_a_celery_worker(celery_on_redis, api, url, publish, refer):
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_success

    ran_on_worker: list = []

    def record(sender, result, **kwargs):
        ran_on_worker.append((sender.name, list(sender.request.args), result))

    task_success.connect(record, weak=False)

    publish(rule_def(trigger="purchase", conditions=ALWAYS, actions=[reward_action(1500)]))
    with start_worker(celery_on_redis, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        refer("alice", "bob")
        assert wait_for(
            lambda: Event.objects.get(event_id="referral_created:bob").status == "processed"
        )
        response = api.post(
            url("events"), {"id": "c-1", "type": "purchase", "user": "bob"}, format="json"
        )
        assert response.status_code == 202
        assert wait_for(lambda: Event.objects.get(event_id="c-1").status == "processed")
    task_success.disconnect(record)
    event = Event.objects.get(event_id="c-1")
    assert ("rules.process_event", [event.pk], "processed") in ran_on_worker
    assert event.attempts == 1
    [reward] = Reward.objects.all()
    assert (reward.beneficiary, reward.amount) == ("alice", 1500)
    assert event.results[0]["rewards"] == [reward.pk]


@pytest.mark.parametrize(
    ("url", "errors"),
    [("", []), ("redis://h:6379/0", []), ("amqp://u:p@h//", []), ("kafka://h", ["rules.E001"])],
)
def test_broker_url_check(settings, url, errors):
    from rules.checks import check_broker_url

    settings.CELERY_BROKER_URL = url
    assert [e.id for e in check_broker_url(None)] == errors
