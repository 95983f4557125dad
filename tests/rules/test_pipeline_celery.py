"""Events processed by a real Celery worker over the local Redis broker."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from rules.models import Event
from rules.rewards.models import Reward
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
    from kombu import pools

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
        pools.reset()  # kombu's global producer pools still hold the closed connections

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


@pytest.mark.django_db(transaction=True)
def test_sweeper_leaves_events_waiting_on_the_broker_alone(celery_on_redis, api, url):
    """No worker runs: the event waits in the queue. The sweeper must not queue it again until
    the hand-off lease runs out (a lost message), and must not retry it through a second path."""
    import redis
    from django.utils import timezone

    from rules.services.processing import HANDOFF_LEASE, events_requeue_stuck

    response = api.post(
        url("events"), {"id": "q-1", "type": "purchase", "user": "bob"}, format="json"
    )
    assert response.status_code == 202
    event = Event.objects.get(event_id="q-1")
    assert event.status == "received" and event.next_attempt_at is not None
    queued = redis.Redis.from_url(BROKER).llen("celery")
    assert queued == 1
    now = timezone.now()
    assert event.pk not in events_requeue_stuck(now=now + timedelta(minutes=2))
    assert event.pk in events_requeue_stuck(now=event.next_attempt_at)
    assert event.next_attempt_at >= now + HANDOFF_LEASE - timedelta(minutes=1)


@pytest.mark.django_db(transaction=True)
def test_a_failed_publish_is_due_for_the_sweeper_at_once(settings, api, url, monkeypatch):
    from django.utils import timezone
    from kombu.exceptions import OperationalError

    from rules.services import processing
    from rules.services.processing import events_requeue_stuck
    from rules.tasks import process_event

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to the broker. Connection refused.")

    settings.CELERY_BROKER_URL = BROKER
    monkeypatch.setattr(process_event, "apply_async", broker_down)
    response = api.post(
        url("events"), {"id": "q-2", "type": "purchase", "user": "bob"}, format="json"
    )
    assert response.status_code == 202
    event = Event.objects.get(event_id="q-2")
    assert event.status == "received" and event.next_attempt_at is not None
    assert event.next_attempt_at <= timezone.now()
    assert event.pk in events_requeue_stuck()

    # A failed attempt is retried through the stored time and the sweeper only: the task
    # itself does not schedule a second copy.
    def boom(event):
        raise RuntimeError("downstream down")

    monkeypatch.setattr(processing, "rules_evaluate_and_act", boom)
    assert process_event(event.pk) == "retry"
    event.refresh_from_db()
    assert event.status == "received" and event.next_attempt_at is not None
    assert event.next_attempt_at > timezone.now()
    assert event.pk not in events_requeue_stuck()
