"""POST P/rewards/batch (SPEC §14): per-item results, replays, mixed good and bad items,
concurrent duplicate batches, and the rows the one-statement batch writes compared with the
rows single requests write."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from config.platform.models import AuditEntry, IdempotencyRecord, WebhookMessage
from config.platform.webhooks.endpoints import webhook_endpoint_create
from ledger import selectors
from ledger.models import Account, AccountBalance, Posting, Transaction
from rules.rewards.models import Reward, RewardHistory

pytestmark = pytest.mark.django_db(transaction=True)

BODY = {"beneficiary": "alice", "amount": 5000, "currency": "INR", "reward_type": "cash"}


def item(key, **overrides):
    return {"key": key, **BODY, **overrides}


def post_batch(api, url, items):
    return api.post(url("rewards/batch"), {"items": items}, format="json")


def pending(program, user):
    account = Account.objects.get(program=program, code=f"user:{user}:rewards")
    return selectors.account_balance(account)["pending"]["balance"]


def test_each_item_gets_its_own_result_in_order(api, url, program):
    r = post_batch(
        api,
        url,
        [item("a"), item("b", beneficiary="bob", amount=700, metadata={"o": 1}), item("c")],
    )
    assert r.status_code == 200, r.json()
    results = r.json()["results"]
    assert [(x["key"], x["status"]) for x in results] == [("a", 201), ("b", 201), ("c", 201)]
    bob = results[1]["reward"]
    assert bob["beneficiary"] == "bob" and bob["amount"] == 700 and bob["metadata"] == {"o": 1}
    assert bob["status"] == "pending" and bob["history"][0]["status"] == "pending"
    assert api.get(url(f"rewards/{bob['id']}")).json() == bob
    assert Reward.objects.count() == 3
    assert pending(program, "alice") == 10000 and pending(program, "bob") == 700


def test_a_replayed_key_returns_the_stored_result_and_books_nothing(api, url, program):
    first = post_batch(api, url, [item("a"), item("b")]).json()["results"]
    again = post_batch(api, url, [item("a"), item("b"), item("c")]).json()["results"]
    assert [x["status"] for x in again] == [200, 200, 201]
    assert again[0]["reward"] == first[0]["reward"] and again[1]["reward"] == first[1]["reward"]
    assert Reward.objects.count() == 3 and pending(program, "alice") == 15000


def test_the_same_key_with_another_body_is_422_in_that_item_only(api, url, program):
    post_batch(api, url, [item("a")])
    results = post_batch(api, url, [item("a", amount=1), item("b")]).json()["results"]
    assert results[0]["status"] == 422
    assert results[0]["error"]["code"] == "idempotency_key_reused"
    assert results[1]["status"] == 201
    assert Reward.objects.count() == 2


def test_keys_are_shared_with_the_single_endpoint(api, url, program):
    single = api.post(url("rewards"), BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1").json()
    results = post_batch(api, url, [item("k1")]).json()["results"]
    assert results == [{"key": "k1", "status": 200, "reward": single}]
    replay = api.post(url("rewards"), BODY, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert replay.status_code == 201
    results = post_batch(api, url, [item("k2", amount=9)]).json()["results"]
    assert results[0]["status"] == 422
    assert Reward.objects.count() == 2


def test_bad_items_never_block_the_good_ones(api, url, program):
    results = post_batch(
        api,
        url,
        [
            item("ok1"),
            item("neg", amount=-5),
            item("cur", currency="USD"),
            item("typ", reward_type="gold"),
            {"amount": 5},
            item("extra", colour="red"),
            item("ok2", beneficiary="bob"),
            item("ok1"),  # the same key again in one batch: a retry
            item("ok2", amount=3),  # again, another body
        ],
    ).json()["results"]
    statuses = [(x["key"], x["status"]) for x in results]
    assert statuses == [
        ("ok1", 201),
        ("neg", 400),
        ("cur", 400),
        ("typ", 400),
        ("", 400),
        ("extra", 400),
        ("ok2", 201),
        ("ok1", 200),
        ("ok2", 422),
    ]
    assert results[1]["error"]["code"] == "validation_error"
    assert results[1]["error"]["errors"][0]["field"] == "amount"
    assert results[2]["error"]["code"] == "currency_mismatch"
    assert results[4]["error"]["errors"][0]["field"] == "key"
    assert results[7]["reward"] == results[0]["reward"]
    assert Reward.objects.count() == 2
    # A 400 stores nothing: the key may be used again once the item is corrected.
    assert not IdempotencyRecord.objects.filter(key__in=["neg", "cur", "typ", "extra"]).exists()
    assert post_batch(api, url, [item("neg")]).json()["results"][0]["status"] == 201


@pytest.mark.parametrize(
    "body",
    [
        {"items": []},
        {"items": "x"},
        {"items": [1, 2]},
        {},
        {"items": [item("a")], "extra": 1},
        {"items": [item(f"k{i}") for i in range(1001)]},
    ],
)
def test_a_malformed_request_is_400_and_writes_nothing(api, url, program, body):
    r = api.post(url("rewards/batch"), body, format="json")
    assert r.status_code == 400, r.json()
    assert r.json()["code"] == "validation_error"
    assert Reward.objects.count() == 0


def test_a_thousand_items_are_accepted(api, url, program):
    r = post_batch(api, url, [item(f"k{i}", beneficiary=f"u{i % 37}") for i in range(1000)])
    assert r.status_code == 200
    assert {x["status"] for x in r.json()["results"]} == {201}
    assert Reward.objects.count() == 1000 and Transaction.objects.count() == 1000


def test_a_key_without_permission_is_refused(url, program):
    client = APIClient()
    assert post_batch(client, url, [item("a")]).status_code == 401


# --- PostgreSQL: the set-based statement ----------------------------------------------------


def _rows(program, rewards):
    """What a reward's creation wrote, without ids and times."""
    out = []
    for reward in Reward.objects.filter(pk__in=rewards).order_by("id"):
        txn = reward.transaction
        assert txn is not None
        out.append(
            {
                "reward": (
                    reward.beneficiary,
                    reward.amount,
                    reward.currency,
                    reward.reward_type,
                    reward.status,
                    reward.metadata,
                    reward.source_key,
                    reward.hold_reason,
                    reward.created_at == reward.updated_at == txn.created_at,
                ),
                "txn": (txn.kind, txn.description, txn.metadata, txn.reference, txn.program_id),
                "postings": [
                    (p.account.code, p.direction, p.amount, p.currency, p.kind)
                    for p in Posting.objects.filter(transaction=txn).order_by("id")
                ],
                "history": [
                    (h.status, h.actor, h.reason, h.at == reward.created_at)
                    for h in RewardHistory.objects.filter(reward=reward)
                ],
                "audit": [
                    (a.program_id, a.actor, a.action, a.object_type, a.before, a.after, a.reason)
                    for a in AuditEntry.objects.filter(
                        object_type="reward", object_id=str(reward.pk)
                    )
                ],
                "outbox": [
                    (m.endpoint_id, m.event_type, m.payload, m.status, m.attempts)
                    for m in WebhookMessage.objects.filter(payload__id=reward.pk)
                ],
                "txn_audit": AuditEntry.objects.filter(object_id=str(txn.pk)).count(),
            }
        )
    return out


def _normalised(rows):
    for row in rows:
        for entry in row["audit"]:
            entry[5].pop("id"), entry[5].pop("created_at")
        for entry in row["outbox"]:
            entry[2].pop("id"), entry[2].pop("created_at")
    return rows


@pytest.mark.postgres
def test_the_batch_statement_writes_the_rows_single_requests_write(api, url, program, monkeypatch):
    # Outbox rows as written (no delivery attempt changes them), and what was handed off.
    dispatched: list[list] = []
    monkeypatch.setattr(
        "config.platform.webhooks.tasks.webhook_messages_dispatch", dispatched.append
    )
    program.fraud_amount_threshold = 10_000
    program.save()
    webhook_endpoint_create(
        program=program, url="https://example.com/a", events=["reward.created"], actor="test"
    )
    bodies = [
        dict(BODY),
        {**BODY, "beneficiary": "bob", "amount": 700, "metadata": {"order": "o-1"}},
        {**BODY, "beneficiary": "carol", "amount": 20_000, "reward_type": "voucher"},
    ]
    singles = []
    for i, body in enumerate(bodies):
        r = api.post(url("rewards"), body, format="json", HTTP_IDEMPOTENCY_KEY=f"s{i}")
        assert r.status_code == 201
        singles.append(r.json()["id"])
    balances_after_singles = {
        b.pk: (b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits)
        for b in AccountBalance.objects.all()
    }
    results = post_batch(
        api, url, [{"key": f"b{i}", **body} for i, body in enumerate(bodies)]
    ).json()["results"]
    batched = [x["reward"]["id"] for x in results]
    assert _normalised(_rows(program, batched)) == _normalised(_rows(program, singles))
    # Handed to delivery after commit: each single request's message, then the batch's three.
    assert [len(ids) for ids in dispatched] == [1, 1, 1, 3]
    assert set(dispatched[-1]) == set(
        WebhookMessage.objects.filter(payload__id__in=batched).values_list("pk", flat=True)
    )
    assert results[2]["reward"]["hold_reason"]
    # The stored totals moved by exactly what the singles moved them by.
    totals: dict[str, list[int]] = {}
    for b in AccountBalance.objects.select_related("account"):
        before = balances_after_singles[b.pk]
        totals.setdefault(b.account.code, [0, 0, 0, 0])
        now = (b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits)
        for i in range(4):
            totals[b.account.code][i] += now[i] - 2 * before[i]
    assert all(v == [0, 0, 0, 0] for v in totals.values()), totals


@pytest.mark.postgres
def test_the_batch_is_a_few_statements_not_one_per_item(api, url, program):
    from django.test.utils import CaptureQueriesContext

    post_batch(api, url, [item("warm", beneficiary=f"u{i}") for i in range(1)])
    items = [item(f"k{i}", beneficiary=f"u{i % 10}") for i in range(200)]
    with CaptureQueriesContext(connection) as queries:
        assert {x["status"] for x in post_batch(api, url, items).json()["results"]} == {201}
    assert len(queries.captured_queries) < 20, [q["sql"][:80] for q in queries.captured_queries]


@pytest.mark.postgres
def test_the_statements_per_batch_do_not_grow_with_its_size(api, url, program):
    """The same statements for 2 items as for 400, both when every account exists and when
    every beneficiary is new (their accounts are opened by one statement), and one booking
    statement, not one per item."""
    from django.test.utils import CaptureQueriesContext

    def statements(items):
        with CaptureQueriesContext(connection) as queries:
            r = post_batch(api, url, items)
        assert {x["status"] for x in r.json()["results"]} == {201}
        return [q["sql"] for q in queries.captured_queries]

    post_batch(api, url, [item(f"w{i}", beneficiary=f"u{i}") for i in range(400)])
    known = {
        n: statements([item(f"k{n}-{i}", beneficiary=f"u{i}") for i in range(n)]) for n in (2, 400)
    }
    new = {
        n: statements([item(f"n{n}-{i}", beneficiary=f"new{n}-{i}") for i in range(n)])
        for n in (2, 400)
    }
    assert len(known[2]) == len(known[400]), (known[2], known[400])
    assert len(new[2]) == len(new[400]), (new[2], new[400])
    assert len(new[400]) == len(known[400]) + 1  # the accounts' opening
    assert sum("INSERT INTO ledger_reward " in q for q in known[400]) == 1
    assert sum("SET CONSTRAINTS ALL IMMEDIATE" in q for q in known[400]) == 1  # locks last
    assert len(known[400]) <= 10, known[400]


@pytest.mark.postgres
def test_inside_a_callers_transaction_the_batch_leaves_its_constraints_alone(program):
    """Locks last sets the transaction's constraints IMMEDIATE, so inside a caller's
    transaction the batch books in its one statement instead (locks inside it)."""
    from django.db import transaction
    from django.test.utils import CaptureQueriesContext

    from rules.rewards.services.reward_batch import BatchItem, reward_batch_create

    fields = dict(BODY) | {"metadata": {}}
    items = [BatchItem(key=f"t{i}", fingerprint="f", fields=dict(fields)) for i in range(3)]
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        results = reward_batch_create(
            program=program, items=items, actor="test", render=lambda row, actor: row["id"]
        )
    assert [r.status for r in results] == [201, 201, 201]
    assert not any("SET CONSTRAINTS" in q["sql"] for q in queries.captured_queries)
    assert Reward.objects.count() == 3 and pending(program, "alice") == 15000


@pytest.mark.postgres
def test_concurrent_duplicate_batches_have_one_effect_per_key(api_key, url, program):
    items = [item(f"k{i}", beneficiary=f"u{i % 7}", amount=100 + i) for i in range(60)]
    barrier = threading.Barrier(4)
    answers: list[list[dict]] = []
    errors: list[BaseException] = []

    def run(order):
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
            barrier.wait()
            r = post_batch(client, url, items[::order])
            assert r.status_code == 200, r.content
            answers.append(r.json()["results"][::order])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(o,)) for o in (1, -1, 1, -1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert Reward.objects.count() == 60
    created = [[x["status"] for x in a].count(201) for a in answers]
    assert sum(created) == 60
    for i in range(60):
        rewards = {a[i]["reward"]["id"] for a in answers}
        assert len(rewards) == 1 and {a[i]["status"] for a in answers} <= {200, 201}
    assert sum(pending(program, f"u{u}") for u in range(7)) == sum(100 + i for i in range(60))


def test_an_item_refused_with_400_once_booked_stores_nothing(api, url, program, monkeypatch):
    """A 400 that only the booking finds (a stored total would overflow) stores nothing, as
    alone: the batch is run again without it (records are never deleted)."""
    from ledger.booking.batch import BatchRefused
    from ledger.booking.totals import BalanceOverflow
    from rules.rewards.services import reward_batch

    def refused(*args, **kwargs):
        raise BatchRefused("the batch as a whole")  # item by item, as on SQLite

    real = reward_batch.reward_create

    def overflowing(**kwargs):
        if kwargs["beneficiary"] == "huge":
            raise BalanceOverflow("past the bigint")
        return real(**kwargs)

    monkeypatch.setattr(reward_batch, "_book_in_one_statement", refused)
    monkeypatch.setattr(reward_batch, "reward_create", overflowing)
    results = post_batch(
        api, url, [item("a"), item("big", beneficiary="huge"), item("c", beneficiary="bob")]
    ).json()["results"]
    assert [(x["key"], x["status"]) for x in results] == [("a", 201), ("big", 400), ("c", 201)]
    assert not IdempotencyRecord.objects.filter(key="big").exists()
    assert IdempotencyRecord.objects.filter(key__in=["a", "c"], response_status=201).count() == 2
    assert Reward.objects.count() == 2 and pending(program, "alice") == 5000
    assert results[0]["reward"] == api.get(url(f"rewards/{results[0]['reward']['id']}")).json()


@pytest.mark.parametrize(
    "body",
    [
        dict(BODY),
        {**BODY, "metadata": {"o": [1, {"x": None}]}},
        {**BODY, "metadata": {}},
        {**BODY, "beneficiary": "a.b@c_d-9", "amount": 10**15},
        {**BODY, "beneficiary": " alice"},
        {**BODY, "beneficiary": "alice\n"},
        {**BODY, "beneficiary": "x" * 201},
        {**BODY, "beneficiary": 5},
        {**BODY, "amount": True},
        {**BODY, "amount": 1.0},
        {**BODY, "amount": "5"},
        {**BODY, "amount": 0},
        {**BODY, "amount": 10**15 + 1},
        {**BODY, "currency": "inr"},
        {**BODY, "currency": " INR"},
        {**BODY, "reward_type": "gold"},
        {**BODY, "reward_type": ["cash"]},
        {**BODY, "metadata": None},
        {**BODY, "metadata": [1]},
        {**BODY, "colour": "red"},
        {"amount": 5},
    ],
)
def test_the_plain_validator_agrees_with_the_serializer(body):
    """What the batch takes without DRF it takes exactly as RewardCreateSerializer does;
    everything else it leaves to the serializer (None)."""
    from rest_framework import serializers

    from config.platform.api.serializers import validated
    from rules.rewards.apis.batch import _plain
    from rules.rewards.apis.rewards import RewardCreateSerializer

    try:
        expected = dict(validated(RewardCreateSerializer, body))
    except serializers.ValidationError:
        expected = None
    plain = _plain(body)
    assert plain is None or plain == expected
    if body in (BODY, {**BODY, "metadata": {}}):
        assert plain is not None  # the usual item takes the fast path
