"""Attacks on batched events (SPEC §6, §14): hostile bodies through POST P/events/batch (and
the 101-255 character ids that made the audit write fail), staff and keys without the
permission on the batch endpoints, workers racing batches on overlapping events, a worker
killed inside the deferred booking, and the rules' limits across batch boundaries with
refunds and several programs in one batch. Each asserts what a user would notice: one answer
per item (never a 500), nothing half-written, each action key paid once, the books clean."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from config.platform.api_keys import api_key_create
from config.platform.models import AuditEntry, Program
from ledger.services.reconciliation import reconciliation_run
from rules.actions import rewarding
from rules.models import Event, Participant, RewardLink
from rules.rewards.models import Reward
from rules.services import event_batch, handoff
from rules.services.events import event_ingest
from rules.services.processing import event_process
from rules.tasks import requeue_stuck
from tests.bulk.test_event_batch_booking import ingest, program_with_rules
from tests.conftest import ensure_groups
from tests.rules.conftest import ALWAYS, reward_action, rule_def

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 2, 3, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def handed(settings, monkeypatch):
    """No broker, and hand-offs recorded rather than processed: each test processes."""
    settings.CELERY_BROKER_URL = ""
    got: list[int] = []
    monkeypatch.setattr(handoff, "_enqueue", lambda pk, **kwargs: got.append(pk))
    monkeypatch.setattr(handoff, "_enqueue_many", got.extend)
    monkeypatch.setattr(
        "config.platform.webhooks.tasks.webhook_messages_dispatch", lambda ids: None
    )
    return got


def ev(event_id: str, user: Any = "u0", type: str = "purchase", **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "type": type, "user": user, "occurred_at": T0.isoformat(), **extra}


def post_raw(client: APIClient | Client, path: str, body: Any):
    """The body as JSON text (escapes kept: a NUL or a lone surrogate as \\u0000, \\ud800)."""
    return client.post(path, json.dumps(body), content_type="application/json")


def _deep(levels: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _ in range(levels):
        out = {"a": out}
    return out


def paid_once(program: Program) -> None:
    """Every action key has at most one reward and one link, and the books reconcile."""
    sourced = Reward.objects.filter(program=program, source_key__isnull=False)
    keys = Counter(sourced.values_list("source_key", flat=True))
    assert not [k for k, n in keys.items() if n > 1], keys
    links = Counter(RewardLink.objects.filter(program=program).values_list("reward_id", flat=True))
    assert not [k for k, n in links.items() if n > 1]
    ruled = sourced.filter(source_key__startswith="evt:")
    assert RewardLink.objects.filter(program=program).count() == ruled.count()
    assert reconciliation_run().status == "clean"


# --- hostile input ----------------------------------------------------------------------------


@pytest.mark.parametrize("length", [101, 255])
def test_a_long_event_id_is_stored_by_both_endpoints(api, url, length):
    """Was a 500 on PostgreSQL: the audit entry's object_id was varchar(100) while event ids
    (and external ids) are up to 255 characters. Both endpoints, a known user and a new one
    (whose participant entry names the long external id, at most 200 characters, too)."""
    user_length = min(length, 200)
    api.put(url("participants/known"), {"attributes": {}}, format="json")
    single = post_raw(api, url("events"), ev("s" * length, user="known"))
    assert single.status_code == 202, single.json()
    new_user = post_raw(api, url("events"), ev("n" * length, user="N" * user_length))
    assert new_user.status_code == 202, new_user.json()
    batch = post_raw(
        api,
        url("events/batch"),
        {
            "events": [
                ev("b" * length, user="known"),  # the bulk statement
                ev("a" * length, user="known", attributes={"plan": "x" * 300}),  # with a merge
                ev("c" * length, user="M" * user_length),  # one by one (a new user)
            ]
        },
    )
    assert batch.status_code == 202, batch.json()
    assert [r["status"] for r in batch.json()["results"]] == [202, 202, 202]
    for event_id in ("s", "n", "b", "a", "c"):
        assert AuditEntry.objects.filter(
            action="event.received", object_id=event_id * length
        ).exists()
    for user in ("N", "M"):
        assert AuditEntry.objects.filter(object_type="participant", object_id=user * user_length)
    # 256 is refused, per item, before anything is written.
    over = post_raw(api, url("events/batch"), {"events": [ev("x" * 256), ev("ok")]})
    assert [r["status"] for r in over.json()["results"]] == [400, 202]
    assert not Event.objects.filter(event_id="x" * 256).exists()


HOSTILE: list[tuple[dict[str, Any], int, str | None]] = [
    (ev("big-int", data={"amount": 2**63}), 202, None),
    (ev("big-int-attr", attributes={"n": 2**64}), 202, None),
    (ev("neg-big", data={"amount": -(2**63) - 1}), 202, None),
    (ev("float", data={"amount": 1e308}), 202, None),
    ({**ev("bad-date"), "occurred_at": "2026-02-30T00:00:00Z"}, 400, "validation_error"),
    ({**ev("year-0"), "occurred_at": "0000-01-01T00:00:00Z"}, 400, "validation_error"),
    ({**ev("year-10000"), "occurred_at": "10000-01-01T00:00:00Z"}, 400, "validation_error"),
    ({**ev("naive"), "occurred_at": "2026-02-03T12:00:00"}, 400, "validation_error"),
    ({**ev("date-type"), "occurred_at": 1770000000}, 400, "validation_error"),
    (ev("reserved-id", attributes={"id": "hijack"}), 400, "validation_error"),
    (ev("reserved-joined", attributes={"joined_at": "x"}), 400, "validation_error"),
    (ev("caps", type="Purchase"), 400, "validation_error"),
    (ev("system", type="referral_created"), 202, None),
    (ev("referral_created:u1"), 400, "validation_error"),
    (ev(""), 400, "validation_error"),
    ({"id": 5, "type": "purchase", "user": "u0"}, 400, "validation_error"),
    ({"id": "no-user", "type": "purchase"}, 400, "validation_error"),
    (ev("extra-field", bogus=1), 400, "validation_error"),
    (ev("attrs-list", attributes=[1, 2]), 400, "validation_error"),
    (ev("data-str", data="x"), 400, "validation_error"),
    (ev("user-obj", user={"a": 1}), 400, "validation_error"),
    (ev("click-and-coupon", click_id="c", coupon="k"), 400, "validation_error"),
    (ev("deep-ok", attributes={"d": _deep(40)}), 202, None),
    (ev("dup", data={"v": 1}), 202, None),
    (ev("dup", data={"v": 2}), 422, "idempotency_key_reused"),
    (ev("dup", data={"v": 1}), 200, None),
    (ev("ok", user="u1", attributes={"plan": "pro"}), 202, None),
]


def test_a_hostile_batch_is_answered_item_by_item(api, url):
    """Each item is answered as POST P/events would answer it, in order; the refused ones
    write nothing (no event, no audit entry, no participant)."""
    api.put(url("participants/u0"), {"attributes": {}}, format="json")
    audit = AuditEntry.objects.count()
    r = post_raw(api, url("events/batch"), {"events": [item for item, _, _ in HOSTILE]})
    assert r.status_code == 202, r.json()
    got = [(res["status"], res.get("error", {}).get("code")) for res in r.json()["results"]]
    assert got == [(status, code) for _, status, code in HOSTILE]
    stored = set(Event.objects.values_list("event_id", flat=True))
    accepted = {item["id"] for item, status, _ in HOSTILE if status in (200, 202)}
    assert stored == accepted
    assert set(Participant.objects.values_list("external_id", flat=True)) == {"u0", "u1"}
    received = AuditEntry.objects.filter(action="event.received")
    assert sorted(received.values_list("object_id", flat=True)) == sorted(accepted)
    # u1 created and merged; u0's attributes merged twice (big-int-attr, deep-ok).
    assert AuditEntry.objects.count() == audit + len(accepted) + 4
    assert Participant.objects.get(external_id="u1").attributes == {"plan": "pro"}
    assert Event.objects.get(event_id="big-int").data == {"amount": 2**63}


@pytest.mark.parametrize(
    "item",
    [
        ev("nul\x00id"),
        ev("nul-user", user="u\x00"),
        ev("nul-key", attributes={"a\x00": 1}),
        ev("nul-value", data={"a": "x\x00y"}),
        ev("surrogate", attributes={"s": "\ud800"}),
        ev("too-deep", attributes=_deep(70)),
    ],
    ids=["id", "user", "attribute-name", "data-value", "surrogate", "nesting"],
)
def test_text_postgresql_cannot_store_refuses_the_request_and_writes_nothing(api, url, item):
    """PostgreSQL's text and jsonb cannot hold NUL or a lone surrogate; nesting past 64 levels
    is refused (SPEC §1). The whole request is a 400 validation_error naming the item, before
    any event of it is stored (not a 500 from the bulk statement, not half a batch)."""
    r = post_raw(api, url("events/batch"), {"events": [ev("fine"), item]})
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "validation_error"
    assert not Event.objects.exists()
    assert not AuditEntry.objects.filter(action="event.received").exists()


# --- insiders ---------------------------------------------------------------------------------

CASH = {"currency": "INR", "reward_type": "cash"}
REWARD_ITEM = {"key": "k1", "beneficiary": "carol", "amount": 100, **CASH}
# Which of the groups the migrations make may post each batch (through their permissions).
MAY_POST = {"api clients": True, "approvers": False, "key managers": False}
MAY_POST |= {"operators": False, "rule authors": False}


@pytest.mark.parametrize("group", sorted(MAY_POST))
def test_staff_of_each_group_and_their_keys_on_the_batch_endpoints(program, url, group):
    """A staff user (session) and a key owned by a member of the group: refused with 403
    permission_denied, writing nothing, unless the group holds the permission."""
    ensure_groups()
    user = get_user_model().objects.create_user(username=f"s-{group}", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    session = Client()
    session.force_login(user)
    keyed = APIClient()
    keyed.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=program, owner=user)[1]}")
    for n, client in enumerate((session, keyed)):
        events = post_raw(client, url("events/batch"), {"events": [ev(f"e{n}")]})
        rewards = post_raw(
            client, url("rewards/batch"), {"items": [{**REWARD_ITEM, "key": f"k{n}"}]}
        )
        for r in (events, rewards):
            if MAY_POST[group]:
                assert r.status_code in (200, 202), r.content
            else:
                assert r.status_code == 403, r.content
                assert r.json()["code"] == "permission_denied"
    if not MAY_POST[group]:
        assert not Event.objects.exists() and not Reward.objects.exists()


def test_a_key_of_another_program_sees_no_batch_endpoint(program, api, url):
    from rules.rewards.services.programs import program_create

    other, _ = program_create(slug="other", name="Other", currency="INR")
    for path, body in (
        ("events/batch", {"events": [ev("e1")]}),
        ("rewards/batch", {"items": [REWARD_ITEM]}),
    ):
        r = post_raw(api, url(path, slug="other"), body)
        assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert not Event.objects.exists() and not Reward.objects.exists()
    assert other.pk


# --- races (PostgreSQL, real threads, committed transactions) ---------------------------------


def _race(calls: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            barrier.wait()
            out[i] = calls[i]()
        except Exception as exc:  # surfaced by the assertions
            out[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _all_processed(program: Program) -> None:
    left = (
        Event.objects.filter(program=program)
        .exclude(type="referral_created")  # left to their own hand-off (not processed here)
        .exclude(status=Event.Status.PROCESSED)
    )
    assert not left.exists(), list(left.values_list("event_id", "status", "error"))


@pytest.mark.postgres
def test_overlapping_batches_and_single_workers_pay_each_key_once():
    """Four batch workers on overlapping halves and two single-event workers on every event,
    all at once: every event is processed once, each action key has one reward."""
    program = program_with_rules("race")
    pks = ingest(program, 40)
    half, rest = pks[:25], pks[15:]
    calls: list[Callable[[], Any]] = [
        lambda: event_batch.events_process_batch(event_pks=half),
        lambda: event_batch.events_process_batch(event_pks=rest),
        lambda: event_batch.events_process_batch(event_pks=list(reversed(pks))),
        lambda: event_batch.events_process_batch(limit=30),
        lambda: [event_process(event_pk=pk).status for pk in pks],
        lambda: [event_process(event_pk=pk).status for pk in reversed(pks)],
    ]
    outcomes = _race(calls)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    # (The due-events batch may take the referrals' own events too: counted by status below.)
    single = sum(s == "processed" for o in outcomes[4:] for s in o)
    assert sum(o.processed for o in outcomes[:3]) + single <= len(pks)
    _all_processed(program)
    paid_once(program)
    # Each event has the rewards its rules say: the welcome reward for every event.
    assert RewardLink.objects.filter(program=program, rule__name="Welcome").count() == len(pks)
    # The commission's max_rewards (3 per month) held for each referrer across the workers.
    commissions = Counter(
        RewardLink.objects.filter(program=program, rule__name="Commission").values_list(
            "beneficiary", flat=True
        )
    )
    assert commissions == {"ref0": 3, "ref1": 3, "ref2": 3}


@pytest.mark.postgres
def test_a_batch_racing_reward_batches_on_the_same_accounts():
    """POST P/rewards/batch paying the referrers and users the events pay, while two batches
    process the events: all booked, each once, and the books reconcile."""
    ensure_groups()  # the key's service identity is in "api clients"
    events_program = program_with_rules("shared")
    key = api_key_create(program=events_program)[1]
    pks = ingest(events_program, 30)

    def rewards(n: int) -> list[tuple[int, Any]]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        items = [
            {"key": f"r{n}-{i}", "beneficiary": who, "amount": 100 + i, **CASH}
            for i, who in enumerate(["ref0", "ref1", "ref2", "u0", "u1", "u2"] * 5)
        ]
        r = post_raw(client, "/api/v1/programs/shared/rewards/batch", {"items": items})
        return [(item["status"], item.get("error")) for item in r.json()["results"]]

    outcomes = _race(
        [
            lambda: event_batch.events_process_batch(event_pks=pks[:20]),
            lambda: event_batch.events_process_batch(event_pks=pks[10:]),
            lambda: rewards(1),
            lambda: rewards(2),
        ]
    )
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert outcomes[2] == outcomes[3] == [(201, None)] * 30
    _all_processed(events_program)
    paid_once(events_program)


# --- a worker killed at the worst moment ------------------------------------------------------


class WorkerKilled(BaseException):
    """What a killed worker looks like to the code it was running: nothing after it runs (a
    BaseException, so no `except Exception` handles it)."""


@pytest.mark.postgres
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_worker_killed_in_the_deferred_booking_is_retried_and_pays_once(monkeypatch, when):
    """The worker dies as its batch books the deferred rewards (before the statement, or after
    it ran but before the statuses are written): nothing of the batch committed, the events
    stay claimed until the sweeper hands them back, and the retry pays each key once."""
    program = program_with_rules(f"killed-{when}")
    pks = ingest(program, 12)
    flush = rewarding.rewards_create_sourced_many

    def dying(*args: Any, **kwargs: Any) -> Any:
        if when == "after":
            flush(*args, **kwargs)
        raise WorkerKilled

    monkeypatch.setattr(rewarding, "rewards_create_sourced_many", dying)
    with pytest.raises(WorkerKilled):
        event_batch.events_process_batch(event_pks=pks)
    monkeypatch.setattr(rewarding, "rewards_create_sourced_many", flush)
    assert not Reward.objects.filter(program=program).exists()
    assert set(Event.objects.filter(pk__in=pks).values_list("status", flat=True)) == {
        Event.Status.PROCESSING
    }
    # A second worker given the same batch meanwhile takes nothing (they are claimed).
    assert event_batch.events_process_batch(event_pks=pks).skipped == len(pks)
    Event.objects.filter(pk__in=pks).update(claimed_at=T0 - timedelta(days=1))
    assert requeue_stuck(inline=True) >= len(pks)
    _all_processed(program)
    assert set(Event.objects.filter(pk__in=pks).values_list("attempts", flat=True)) == {2}
    paid_once(program)
    assert RewardLink.objects.filter(program=program, rule__name="Welcome").count() == len(pks)


@pytest.mark.postgres
def test_a_connection_lost_in_the_deferred_booking_leaves_nothing_and_is_retried(monkeypatch):
    """The database connection drops as the deferred rewards are booked (the statement never
    answers): the batch's try is lost as a whole, the events are recorded for a retry (or left
    claimed for the sweeper), never marked processed without their rewards."""
    program = program_with_rules("dropped")
    pks = ingest(program, 8)
    flush = rewarding.rewards_create_sourced_many
    dropped: list[bool] = []

    def drop(*args: Any, **kwargs: Any) -> Any:
        if not dropped:
            dropped.append(True)
            connection.connection.close()  # the server side goes away mid-transaction
        return flush(*args, **kwargs)

    monkeypatch.setattr(rewarding, "rewards_create_sourced_many", drop)
    try:
        event_batch.events_process_batch(event_pks=pks)
    except Exception:
        pass  # a worker that dies here is the killed-worker case: the sweeper retries
    monkeypatch.setattr(rewarding, "rewards_create_sourced_many", flush)
    connection.close()
    for event in Event.objects.filter(pk__in=pks):
        if event.status == Event.Status.PROCESSED:
            assert RewardLink.objects.filter(event=event).exists(), event.event_id
    Event.objects.filter(pk__in=pks, status=Event.Status.PROCESSING).update(
        claimed_at=T0 - timedelta(days=1)
    )
    Event.objects.filter(pk__in=pks, status=Event.Status.RECEIVED).update(next_attempt_at=None)
    requeue_stuck(inline=True)
    event_batch.events_process_batch(event_pks=pks)
    _all_processed(program)
    paid_once(program)
    assert RewardLink.objects.filter(program=program, rule__name="Welcome").count() == len(pks)


# --- limits under batching --------------------------------------------------------------------


def _limited_program(slug: str, limits: dict[str, Any], amount: int = 1000) -> Program:
    from rules.rewards.services.programs import program_create
    from rules.services.referrals import referral_create
    from rules.services.rules import rule_create, rule_publish

    program, _ = program_create(slug=slug, name=slug, currency="INR")
    rule = rule_create(
        program=program,
        definition=rule_def(
            name="Limited",
            trigger="purchase",
            conditions=ALWAYS,
            actions=[reward_action(amount)],
            limits=limits,
        ),
        actor="t",
    )
    rule_publish(rule=rule, actor="t")
    for i in range(4):
        referral_create(program=program, referrer="ref", referred=f"u{i}", actor="t")
    return program


def _events(program: Program, specs: list[tuple[str, str, dict[str, Any]]]) -> list[int]:
    """(id, type, data) purchases and refunds of user u<n % 4>, a minute apart."""
    pks = []
    for n, (event_id, type, data) in enumerate(specs):
        event, _ = event_ingest(
            program=program,
            event_id=event_id,
            type=type,
            user=f"u{n % 4}",
            occurred_at=T0 + timedelta(minutes=len(Event.objects.filter(program=program))),
            data=data,
            actor="t",
        )
        pks.append(event.pk)
    return pks


def _live(program: Program) -> list[str]:
    """The events whose rewards stand (not reversed), in order."""
    return list(
        RewardLink.objects.filter(program=program)
        .exclude(reward__status=Reward.Status.REVERSED)
        .order_by("event__occurred_at")
        .values_list("event__event_id", flat=True)
    )


@pytest.mark.parametrize(
    "limits",
    [
        {"per_beneficiary": {"max_rewards": 2}},
        {"per_beneficiary": {"max_amount": 2000}},
        {"budget": {"max_amount": 2000}},
    ],
    ids=["max_rewards", "max_amount", "budget"],
)
def test_limits_hold_across_batches_with_a_refund_in_the_batch(limits):
    """Batch 1 pays p1; batch 2 pays p2, refunds p1 (its reward reversed, so the limit frees
    one), pays p3 and refuses p4. Then batch 3 refunds p2 and pays p5. Each step as one
    event at a time would decide it."""
    program = _limited_program("lim", limits)
    purchase: tuple[str, dict[str, Any]] = ("purchase", {})

    def batch(specs: list[tuple[str, str, dict[str, Any]]]) -> None:
        pks = _events(program, specs)
        outcome = event_batch.events_process_batch(event_pks=pks)
        assert outcome.processed == len(pks), outcome

    batch([("p1", *purchase)])
    batch(
        [
            ("p2", *purchase),
            ("r1", "refund", {"original_event_id": "p1"}),
            ("p3", *purchase),
            ("p4", *purchase),
        ]
    )
    assert _live(program) == ["p2", "p3"]
    p4 = Event.objects.get(event_id="p4")
    assert p4.results[0]["limited"], p4.results
    batch([("r2", "refund", {"original_event_id": "p2"}), ("p5", *purchase)])
    assert _live(program) == ["p3", "p5"]
    paid_once(program)


def test_a_refund_of_a_purchase_earlier_in_the_same_batch_reverses_its_deferred_reward():
    program = _limited_program("same", {"per_beneficiary": {"max_rewards": 1}})
    pks = _events(
        program,
        [
            ("p1", "purchase", {}),
            ("r1", "refund", {"original_event_id": "p1"}),
            ("p2", "purchase", {}),
            ("p3", "purchase", {}),
        ],
    )
    assert event_batch.events_process_batch(event_pks=pks).processed == 4
    p1 = Reward.objects.get(rule_link__event__event_id="p1")
    assert p1.status == Reward.Status.REVERSED
    refund = Event.objects.get(event_id="r1").refund
    assert refund is not None and refund["reversed"] == [p1.pk]
    assert _live(program) == ["p2"]
    paid_once(program)


def test_a_batch_of_several_programs_keeps_each_programs_limits_and_books():
    """Two programs with the same referrer id and a max_rewards of 2, their events
    interleaved in one batch: each program pays its own two."""
    a = _limited_program("pa", {"per_beneficiary": {"max_rewards": 2}}, amount=700)
    b = _limited_program("pb", {"per_beneficiary": {"max_rewards": 2}}, amount=900)
    pks = []
    for n in range(4):
        pks += _events(a, [(f"a{n}", "purchase", {})])
        pks += _events(b, [(f"b{n}", "purchase", {})])
    # The events' ids interleave the two programs; their times interleave too.
    assert event_batch.events_process_batch(event_pks=pks).processed == 8
    assert _live(a) == ["a0", "a1"] and _live(b) == ["b0", "b1"]
    assert set(Reward.objects.filter(program=a).values_list("amount", flat=True)) == {700}
    assert set(Reward.objects.filter(program=b).values_list("amount", flat=True)) == {900}
    paid_once(a)
    paid_once(b)


def test_an_overflowing_amount_in_event_data_pays_nothing_and_fails_nothing():
    """A commission of an amount beyond bigint (2**63) is skipped at the money limit; the
    batch's other events are paid."""
    program = program_with_rules("overflow")
    pks = ingest(program, 4)
    event, _ = event_ingest(
        program=program,
        event_id="huge",
        type="purchase",
        user="u0",
        occurred_at=T0,
        data={"amount": 2**63},
        actor="t",
    )
    outcome = event_batch.events_process_batch(event_pks=[*pks, event.pk])
    assert outcome.processed == 5, outcome
    _all_processed(program)
    paid_once(program)


@pytest.mark.postgres
def test_a_refused_booking_after_a_refund_reruns_the_batch_not_fails_it(monkeypatch):
    """A refund event whose own rule pays (a goodwill reward on `refund`), in a batch whose
    rewards cannot be booked together (BatchRefused, as a no_overdraft account or an
    overflowing total would): the batch must run again booking reward by reward, as for any
    other refused flush. It used to fail as a whole (every event's attempt spent and retried
    later) because the refund's flush was not the batch's guarded one."""
    from ledger.booking.batch import BatchRefused
    from rules.services.rules import rule_create, rule_publish

    program = _limited_program("goodwill", {"budget": {"max_amount": 10**9}})
    goodwill = rule_def(
        name="Goodwill", trigger="refund", conditions=ALWAYS, actions=[reward_action(50)]
    )
    rule_publish(rule=rule_create(program=program, definition=goodwill, actor="t"), actor="t")
    flush = rewarding.rewards_create_sourced_many
    calls: list[int] = []

    def refused_after_the_refund(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(args[1]))
        if len(calls) == 2:  # the refund's own reward, booked as the refund is done
            raise BatchRefused("the batch as a whole would overdraw")
        return flush(*args, **kwargs)

    monkeypatch.setattr(rewarding, "rewards_create_sourced_many", refused_after_the_refund)
    pks = _events(
        program,
        [
            ("p1", "purchase", {}),
            ("r1", "refund", {"original_event_id": "p1"}),
            ("p2", "purchase", {}),
        ],
    )
    outcome = event_batch.events_process_batch(event_pks=pks)
    assert (outcome.processed, outcome.retry, outcome.failed) == (3, 0, 0), outcome
    assert set(Event.objects.filter(pk__in=pks).values_list("attempts", flat=True)) == {1}
    assert _live(program) == ["r1", "p2"]
    paid_once(program)
