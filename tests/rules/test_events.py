"""Event ingestion: durable, idempotent by id, attributes merged atomically (SPEC §6)."""

from __future__ import annotations

import pytest

from rules.models import Event, Participant

pytestmark = pytest.mark.django_db

EVENT = {
    "id": "evt-1",
    "type": "purchase",
    "user": "bob",
    "occurred_at": "2026-03-01T10:00:00+05:30",
    "attributes": {"plan": "pro"},
    "data": {"amount": 1999},
}


def test_post_event_stores_it_and_merges_attributes(api, url):
    api.put(url("participants/bob"), {"attributes": {"country": "IN"}}, format="json")
    response = api.post(url("events"), EVENT, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["id"] == "evt-1" and body["type"] == "purchase" and body["user"] == "bob"
    assert body["status"] == "received" and body["attempts"] == 0  # processed after commit
    assert body["occurred_at"] == "2026-03-01T04:30:00Z"
    assert Participant.objects.get(external_id="bob").attributes == {"country": "IN", "plan": "pro"}


def test_same_id_same_body_replays_the_stored_event(api, url):
    api.post(url("events"), EVENT, format="json")
    again = api.post(url("events"), EVENT, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == "evt-1"
    assert Event.objects.count() == 1


def test_same_id_other_body_is_422_and_changes_nothing(api, url):
    api.post(url("events"), EVENT, format="json")
    changed = {**EVENT, "attributes": {"plan": "enterprise"}, "data": {"amount": 1}}
    response = api.post(url("events"), changed, format="json")
    assert response.status_code == 422 and response.json()["code"] == "idempotency_key_reused"
    assert Participant.objects.get(external_id="bob").attributes == {"plan": "pro"}
    assert Event.objects.get().data == {"amount": 1999}


def test_attributes_are_not_merged_when_the_event_is_not_stored(program, monkeypatch):
    """The merge and the event row commit together or not at all."""
    from rules.services.events import event_ingest
    from rules.services.participants import participant_upsert

    participant_upsert(program=program, external_id="bob", attributes={"plan": "free"}, actor="t")

    def refuse(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Event.objects, "create", refuse)
    with pytest.raises(RuntimeError):
        event_ingest(
            program=program,
            event_id="e",
            type="purchase",
            user="bob",
            attributes={"plan": "pro"},
            actor="t",
        )
    assert Participant.objects.get(external_id="bob").attributes == {"plan": "free"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"occurred_at": "2026-03-01T10:00:00"}, "occurred_at"),  # no timezone
        ({"data": [1, 2]}, "data"),
        ({"attributes": "x"}, "attributes"),
        ({"id": ""}, "id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_events_are_400(api, url, change, field):
    response = api.post(url("events"), {**EVENT, **change}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert not Event.objects.exists()


@pytest.mark.parametrize("type_", ["no spaces!", "Order.Paid", "order-paid", "Purchase"])
def test_event_type_must_be_a_trigger_name(api, url, type_):
    """A type no rule trigger (^[a-z][a-z0-9_]*$) can name would never match a rule."""
    response = api.post(url("events"), {**EVENT, "type": type_}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "type"
    assert not Event.objects.exists()


def test_client_cannot_take_a_system_event_id(api, url):
    """Otherwise a client event with the id of a future referral's event blocks the referral."""
    squat = {**EVENT, "id": "referral_created:bob", "type": "referral_created"}
    response = api.post(url("events"), squat, format="json")
    assert response.status_code == 400 and response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["field"] == "id"
    assert "reserved" in response.json()["detail"]
    referral = api.post(url("referrals"), {"referrer": "alice", "referred": "bob"}, format="json")
    assert referral.status_code == 201, referral.content
    assert Event.objects.get().event_id == "referral_created:bob"


def test_occurred_at_defaults_to_now_and_replays_without_it(api, url):
    body = {"id": "e2", "type": "signup", "user": "carol"}
    first = api.post(url("events"), body, format="json")
    assert first.status_code == 202 and first.json()["occurred_at"]
    assert api.post(url("events"), body, format="json").status_code == 200


def test_get_event_and_list_recent_events(api, url):
    for i, type_ in enumerate(["signup", "purchase", "purchase"]):
        api.post(url("events"), {"id": f"e{i}", "type": type_, "user": "u"}, format="json")
    detail = api.get(url("events/e1")).json()
    assert {"id", "type", "status", "attempts", "results", "error"} <= detail.keys()
    listed = api.get(url("events"), {"type": "purchase", "limit": 1}).json()
    assert [e["id"] for e in listed["results"]] == ["e2"]
    assert listed["next"] is not None
    assert api.get(listed["next"]).json()["results"][0]["id"] == "e1"
    assert api.get(url("events/nope")).status_code == 404
