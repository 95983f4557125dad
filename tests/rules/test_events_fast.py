"""The event path's statement budget (rules.services.events `_insert_pg`, the hand-off lease
stored with the row, the 202 body rendered from memory) and the guarantees it must keep:
idempotent ids, the audit entry, the after-commit hand-off and the sweeper's lease."""

from __future__ import annotations

from datetime import timedelta

import django
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.platform.exceptions import IdempotencyKeyReused
from config.platform.models import AuditEntry
from rules.models import Event
from rules.services.events import event_ingest
from rules.services.participants import participant_get_or_create

READS_DJANGO6_QUERY_LOG = pytest.mark.skipif(
    django.VERSION < (6,), reason="counts statements in Django 6's query log"
)
BROKER = "redis://127.0.0.1:6379/15"

pytestmark = pytest.mark.django_db


def _ingest(program, event_id="e-1", user="bob", **kwargs):
    kwargs.setdefault("type", "purchase")
    kwargs.setdefault("data", {"amount": 499})
    return event_ingest(program=program, event_id=event_id, user=user, actor="t", **kwargs)


@pytest.fixture
def published(monkeypatch, settings):
    """A broker is configured; publishing is recorded instead of reaching Redis."""
    from rules.tasks import process_event

    settings.CELERY_BROKER_URL = BROKER
    sent: list = []
    monkeypatch.setattr(process_event, "apply_async", lambda args, **kw: sent.append(args))
    return sent


@READS_DJANGO6_QUERY_LOG
@pytest.mark.postgres
def test_a_known_users_event_is_one_statement(program):
    participant_get_or_create(program=program, external_id="bob", actor="t")
    with CaptureQueriesContext(connection) as queries:
        event, created = _ingest(program)
    assert created and len(queries) == 1, [q["sql"] for q in queries]
    stored = Event.objects.select_related("participant").get(pk=event.pk)
    assert stored.participant.external_id == event.participant.external_id == "bob"
    for name in ("event_id", "type", "occurred_at", "data", "attributes", "body_hash", "status"):
        assert getattr(stored, name) == getattr(event, name), name
    entry = AuditEntry.objects.get(action="event.received")
    assert (entry.object_id, entry.after) == ("e-1", {"type": "purchase", "user": "bob"})


@pytest.mark.parametrize("known_user", [True, False])
def test_a_repeated_id_is_stored_once(program, known_user):
    if known_user:
        participant_get_or_create(program=program, external_id="bob", actor="t")
    first, created = _ingest(program)
    again, created_again = _ingest(program)
    assert (created, created_again) == (True, False) and again.pk == first.pk
    with pytest.raises(IdempotencyKeyReused):
        _ingest(program, data={"amount": 1})
    assert Event.objects.count() == 1
    assert AuditEntry.objects.filter(action="event.received").count() == 1
    assert Event.objects.get().data == {"amount": 499}


@pytest.mark.django_db(transaction=True)
def test_a_new_event_is_stored_with_its_hand_off_lease(program, published):
    """With a broker the row carries the lease from the start: no UPDATE after commit, the
    task is published once after commit, and the sweeper leaves it alone until the lease ends."""
    from rules.services.processing import HANDOFF_LEASE, events_requeue_stuck

    participant_get_or_create(program=program, external_id="bob", actor="t")
    before = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        event, _ = _ingest(program)
    assert published == [(event.pk,)]
    assert not any(q["sql"].startswith("UPDATE") for q in queries)
    stored = Event.objects.get(pk=event.pk)
    assert stored.status == "received" and stored.next_attempt_at is not None
    assert before + HANDOFF_LEASE <= stored.next_attempt_at <= timezone.now() + HANDOFF_LEASE
    assert event.pk not in events_requeue_stuck(now=before + timedelta(minutes=2))
    assert event.pk in events_requeue_stuck(now=stored.next_attempt_at)


@pytest.mark.django_db(transaction=True)
def test_nothing_is_published_before_commit(program, published):
    from django.db import transaction

    with transaction.atomic():
        event, _ = _ingest(program, user="carol")  # the portable path: a new participant
        assert published == []
    assert published == [(event.pk,)]


@pytest.mark.django_db(transaction=True)
def test_a_lost_publish_is_due_at_once(program, published, monkeypatch):
    from kombu.exceptions import OperationalError

    from rules.services.processing import events_requeue_stuck
    from rules.tasks import process_event

    def broker_down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(process_event, "apply_async", broker_down)
    participant_get_or_create(program=program, external_id="bob", actor="t")
    event, _ = _ingest(program)
    due = Event.objects.get(pk=event.pk).next_attempt_at
    assert due is not None and due <= timezone.now()
    assert event.pk in events_requeue_stuck()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("known_user", [True, False])
def test_the_202_body_is_the_stored_event(api, url, published, known_user):
    """Rendered from memory with a broker; it must say what a later GET says."""
    if known_user:
        api.put(url("participants/bob"), {"attributes": {}}, format="json")
    body = {
        "id": "e-9",
        "type": "purchase",
        "user": "bob",
        "occurred_at": "2026-03-01T10:00:00.123456+05:30",
        "data": {"amount": 499, "items": [{"sku": "a", "qty": 2}], "b": None},
    }
    response = api.post(url("events"), body, format="json")
    assert response.status_code == 202, response.content
    assert response.json() == api.get(url("events/e-9")).json()
    replay = api.post(url("events"), body, format="json")
    assert replay.status_code == 200 and replay.json() == response.json()
