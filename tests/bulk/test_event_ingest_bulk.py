"""POST P/events/batch's ingest (SPEC §14) on PostgreSQL writes a run of common events in one
statement (rules.services.event_ingest_batch): the rows it writes compared with the rows single
POST P/events write for the same events, replays and reused ids, mixed batches (the rest goes
one by one, answered in item order), the statements per batch, and a concurrent request
taking an id or changing a user's attributes between the batch's reads and its write.

Each comparison sends the same events to two programs, one event per POST P/events to the
first and one batch to the second, and compares what each program holds (ids, times and the
program left out)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from rest_framework.test import APIClient

from config.platform.models import AuditEntry
from rules.models import Event, Participant
from rules.services import event_ingest_batch, events, handoff

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 1, 1, 9, 30, 15, 123456, tzinfo=UTC)
REQUEST_ID = "req-ingest-bulk"


@pytest.fixture(autouse=True)
def handed(settings, monkeypatch):
    """No broker, and the hand-offs recorded rather than processed: only ingest is compared."""
    settings.CELERY_BROKER_URL = ""
    got: list[int] = []
    monkeypatch.setattr(handoff, "_enqueue", lambda pk, **kwargs: got.append(pk))
    monkeypatch.setattr(handoff, "_enqueue_many", got.extend)
    return got


@pytest.fixture
def two(program):
    """(single, batch): the `acme` program and a copy, `beta`, each with a client and the
    same participants."""
    from config.platform.api_keys import api_key_create
    from rules.rewards.services.programs import program_create
    from rules.services.participants import participant_upsert

    beta, _ = program_create(slug="beta", name="Beta", currency="INR")
    sides = []
    for p in (program, beta):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=p)[1]}")
        for user, attributes in USERS.items():
            participant_upsert(program=p, external_id=user, attributes=attributes, actor="t")
        sides.append(Side(p, client))
    return sides


USERS: dict[str, dict[str, object]] = {
    "u0": {},
    "u1": {"plan": "free"},
    "u2": {"plan": "free", "seats": 1},
    "u3": {},
}


class Side:
    def __init__(self, program, client):
        self.program, self.client = program, client
        self.since = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first()

    def url(self, path):
        return f"/api/v1/programs/{self.program.slug}/{path}"

    def single(self, events_):
        return [self.post("events", e) for e in events_]

    def batch(self, events_):
        r = self.post("events/batch", {"events": events_})
        assert r.status_code == 202, r.json()
        return r.json()["results"]

    def post(self, path, body):
        return self.client.post(self.url(path), body, format="json", HTTP_X_REQUEST_ID=REQUEST_ID)

    def upsert(self, user, attributes):
        r = self.client.put(
            self.url(f"participants/{user}"),
            {"attributes": attributes},
            format="json",
            HTTP_X_REQUEST_ID=REQUEST_ID,
        )
        assert r.status_code in (200, 201), r.json()

    def rows(self):
        """What ingest wrote to this program, without ids, times it chose, or the program."""
        evs = list(
            Event.objects.filter(program=self.program)
            .order_by("id")
            .values_list(
                "event_id",
                "type",
                "participant__external_id",
                "occurred_at",
                "attributes",
                "data",
                "body_hash",
                "status",
                "attempts",
                "next_attempt_at",
                "claimed_at",
                "results",
                "refund",
                "attribution",
                "error",
                "processed_at",
            )
        )
        people = dict(
            Participant.objects.filter(program=self.program).values_list(
                "external_id", "attributes"
            )
        )
        audit = [
            (
                a.actor.replace(self.program.slug, "P"),
                *(a.action, a.object_type, a.object_id, a.before, _drawn(a.after)),
                *(a.reason, a.request_id),
            )
            for a in AuditEntry.objects.filter(program=self.program, id__gt=self.since).order_by(
                "id"
            )
        ]
        return {"events": evs, "participants": people, "audit": audit}


def _drawn(after):
    """A new participant's referral code is drawn at random."""
    return {**after, "referral_code": "drawn"} if after and "referral_code" in after else after


def same(single, batch):
    """Rows compared key by key, row by row: a failure names the first row that differs."""
    assert single.keys() == batch.keys()
    for key in single:
        if isinstance(single[key], list):
            for i, (a, b) in enumerate(zip(single[key], batch[key], strict=False)):
                assert a == b, (key, i)
            assert len(single[key]) == len(batch[key]), key
        assert single[key] == batch[key], key


def ev(event_id, user="u0", type="purchase", at=T0, **extra):
    return {"id": event_id, "type": type, "user": user, "occurred_at": at.isoformat(), **extra}


def answers(results):
    """Single responses or batch results as (status, event or error code), ids and times
    left out."""
    out = []
    for r in results:
        if not isinstance(r, dict):
            r = {"status": r.status_code, **({"body": r.json()})}
            body = r["body"]
            r = (
                {"status": r["status"], "error": body}
                if r["status"] >= 400
                else {"status": r["status"], "event": body}
            )
        if "error" in r:
            out.append((r["status"], r["error"]["code"]))
        else:
            e = dict(r["event"])
            for key in ("received_at", "processed_at", "next_attempt_at"):
                e.pop(key)
            out.append((r["status"], e))
    return out


COMMON = [
    ev("e1", "u0", data={"amount": 5}),
    ev("e2", "u1", type="subscription_started", attributes={"plan": "pro"}),
    ev("e3", "u1", attributes={"plan": "pro"}),  # changes nothing: no merge entry
    ev("e4", "u1", attributes={"plan": "team", "seats": 3}),
    ev("e5", "u2", attributes={"plan": "free"}),  # as stored already
    ev("e6", "u3", at=T0.astimezone(timezone(timedelta(hours=5, minutes=30)))),
    ev("e7", "u0", attributes={"nested": {"a": [1, 2.5, None]}, "b": True}),
    ev("e8", "u2", attributes={"seats": 2}, data={"x": "y"}),
]


@pytest.mark.postgres
def test_a_batch_writes_the_rows_single_posts_write(two, handed):
    single, batch = two
    first = single.single(COMMON)
    assert {r.status_code for r in first} == {202}
    handed.clear()
    results = batch.batch(COMMON)
    assert answers(results) == answers(first)
    same(single.rows(), batch.rows())
    # Handed off together, in item order.
    stored = dict(Event.objects.filter(program=batch.program).values_list("event_id", "pk"))
    assert handed == [stored[e["id"]] for e in COMMON]


@pytest.mark.postgres
def test_the_common_events_are_one_statement(two):
    _, batch = two
    with pytest.MonkeyPatch.context() as mp:
        calls = []
        mp.setattr(event_ingest_batch, "event_ingest", lambda **kw: calls.append(kw))
        assert {r["status"] for r in batch.batch(COMMON)} == {202}
    assert calls == []  # none went one by one
    inserts = [
        q for q in _statements(batch, [ev(f"s{i}", f"u{i % 4}") for i in range(3)]) if "INSERT" in q
    ]
    assert len(inserts) == 1, inserts


@pytest.mark.postgres
def test_replays_and_reused_ids_answer_as_single_posts_and_merge_nothing(two):
    single, batch = two
    replays = [
        ev("e2", "u1", type="subscription_started", attributes={"plan": "pro"}),  # replay
        ev("e4", "u1", attributes={"plan": "gold"}),  # another body: 422, nothing merged
        ev("e1", "u0", data={"amount": 6}),  # another body: 422
        ev("e9", "u3", attributes={"plan": "pro"}),  # new
        ev("e7", "u0", attributes={"nested": {"a": [1, 2.5, None]}, "b": True}),  # replay
    ]
    for side in (single, batch):
        side.single(COMMON)
        # A user's attributes changed since: a replay must not merge its attributes again.
        side.upsert("u1", {"plan": "basic"})
    first = single.single(replays)
    results = batch.batch(replays)
    assert [s for s, _ in answers(results)] == [200, 422, 422, 202, 200]
    assert answers(results) == answers(first)
    same(single.rows(), batch.rows())
    assert Participant.objects.get(program=batch.program, external_id="u1").attributes == {
        "plan": "basic",
        "seats": 3,
    }


@pytest.mark.postgres
def test_a_mixed_batch_bulks_the_common_events_and_answers_in_item_order(two):
    single, batch = two
    mixed = [
        ev("m1", "u0", attributes={"plan": "a"}),
        ev("m2", "u1", click_id="nosuchclick"),  # attribution: one by one, as all of u1's
        ev("m3", "newbie", attributes={"plan": "b"}),  # a new user: one by one
        ev("m4", "u1", attributes={"plan": "c"}),
        ev("m5", "u2", attributes={"plan": "d"}),
        {"id": "m6", "type": "Bad Type", "user": "u0"},
        ev("m7", "u3", attributes={"id": "x"}),  # a reserved attribute: 400 one by one
        ev("m8", "u0", attributes={"plan": "e"}),
        ev("m9", "u3"),
        ev("m9", "u3"),  # sent twice: a replay of the first
        ev("m10", "u2"),
        ev("referral_created:u0", "u0"),  # reserved id
        {"type": "purchase"},
        ev("m11", "u0", at=T0.replace(tzinfo=None)),  # naive: the serializer refuses
        ev("m12", "bad id!"),
    ]
    first = single.single(mixed)
    results = batch.batch(mixed)
    statuses = [s for s, _ in answers(results)]
    assert statuses == [202] * 5 + [400, 400, 202, 202, 200, 202] + [400] * 4
    assert answers(results) == answers(first)
    same(single.rows(), batch.rows())
    # Stored in item order, as one by one would.
    stored = list(Event.objects.filter(program=batch.program).order_by("pk"))
    assert [e.event_id for e in stored][-8:] == ["m1", "m2", "m3", "m4", "m5", "m8", "m9", "m10"]


def test_on_any_database_a_batch_answers_as_single_posts(two):
    """SQLite takes the portable path for all; PostgreSQL the bulk one for the common events."""
    single, batch = two
    events_ = [*COMMON, COMMON[1], ev("e3", "u1", attributes={"plan": "x"}), ev("n1", "new")]
    first = single.single(events_)
    results = batch.batch(events_)
    assert answers(results) == answers(first)
    same(single.rows(), batch.rows())


@pytest.mark.postgres
def test_a_refused_bulk_statement_falls_back_to_one_by_one(two, monkeypatch):
    """Any database error in the bulk statement (here: its check made to fail) writes
    nothing and the batch goes one by one: the same rows, never a 500."""
    single, batch = two
    fields, sql = events._bulk_query("default")
    broken = sql.replace("FROM ev) = %s", "FROM ev) = -%s")
    assert broken != sql
    monkeypatch.setattr(events, "_bulk_query", lambda db: (fields, broken))
    first = single.single(COMMON)
    results = batch.batch(COMMON)
    assert answers(results) == answers(first)
    same(single.rows(), batch.rows())


@pytest.mark.postgres
def test_the_statements_per_batch_do_not_grow_with_its_size(two):
    _, batch = two
    batch.batch([ev("warm", "u0")])

    def sized(n, tag):
        return [ev(f"{tag}{i}", f"u{i % 4}", attributes={"n": f"{tag}{i}"}) for i in range(n)]

    small, large = _statements(batch, sized(2, "a")), _statements(batch, sized(400, "b"))
    assert len(small) == len(large), (small, large)
    assert len(large) <= 5, large
    assert Event.objects.filter(program=batch.program).count() == 403


def _statements(side, events_):
    from django.test.utils import CaptureQueriesContext

    from rules.services.event_ingest_batch import events_ingest_batch

    items = [
        {
            "click_id": None,
            "coupon": None,
            "attributes": {},
            "data": {},
            **e,
            "occurred_at": datetime.fromisoformat(e["occurred_at"]),
        }
        for e in events_
    ]
    with CaptureQueriesContext(connection) as queries:
        results = events_ingest_batch(program=side.program, items=items, actor="t")
    assert {r.created for r in results} == {True}, [r.error for r in results]
    return [q["sql"] for q in queries.captured_queries]


def _meanwhile(monkeypatch, act):
    """Run `act` in another thread (its own connection, committed) just before the bulk
    statement, i.e. after the batch read what was stored and the users' attributes."""
    original = events._bulk_write
    done: list[bool] = []

    def racing(*args, **kwargs):
        if not done:
            done.append(True)
            errors = []

            def run():
                try:
                    act()
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)
                finally:
                    connection.close()

            thread = threading.Thread(target=run)
            thread.start()
            thread.join()
            assert not errors, errors
        return original(*args, **kwargs)

    monkeypatch.setattr(events, "_bulk_write", racing)


@pytest.mark.postgres
def test_an_id_stored_meanwhile_leaves_no_half_written_batch(two, monkeypatch):
    """A concurrent request stores one of the batch's events between the batch's check and its
    write: the bulk statement writes nothing (no attributes merged for an event it did not
    store), and one by one the event is a replay, merged once."""
    single, batch = two
    racer = COMMON[3]  # e4: u1's plan becomes team
    _meanwhile(monkeypatch, lambda: batch.single([racer]))
    results = batch.batch(COMMON)
    assert [r["status"] for r in results] == [202, 202, 202, 200, 202, 202, 202, 202]
    # As if the racer's POST had come first.
    single.single([racer])
    single.single(COMMON)
    same(single.rows(), batch.rows())
    merges = [a for a in batch.rows()["audit"] if a[1] == "participant.attributes_merged"]
    assert sum(a[5] == {"plan": "team", "seats": 3} for a in merges) == 1


@pytest.mark.postgres
def test_attributes_changed_meanwhile_are_merged_over_not_lost(two, monkeypatch):
    single, batch = two
    change = {"plan": "basic", "vip": True}
    _meanwhile(monkeypatch, lambda: batch.upsert("u1", change))
    results = batch.batch(COMMON)
    assert {r["status"] for r in results} == {202}
    single.upsert("u1", change)
    single.single(COMMON)
    same(single.rows(), batch.rows())
    assert batch.rows()["participants"]["u1"] == {"plan": "team", "seats": 3, "vip": True}


@pytest.mark.postgres
def test_racing_duplicate_batches_store_each_event_once(two):
    _, batch = two
    barrier = threading.Barrier(2)
    got: list[list[dict]] = []
    errors: list[BaseException] = []

    def run():
        try:
            barrier.wait()
            got.append(batch.batch(COMMON))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in range(len(COMMON)):
        assert sorted(g[i]["status"] for g in got) == [200, 202]
    rows = batch.rows()
    assert [e[0] for e in rows["events"]] == [e["id"] for e in COMMON]
    received = [a[3] for a in rows["audit"] if a[1] == "event.received"]
    assert sorted(received) == sorted(e["id"] for e in COMMON)
    assert rows["participants"]["u1"] == {"plan": "team", "seats": 3}
