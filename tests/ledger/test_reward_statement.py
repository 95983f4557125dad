"""The booking on PostgreSQL (ledger.booking.postgres) writes a transaction, and with
reward_create's rider the reward, its history row, audit entry and outbox rows, in one
statement: exactly the rows the portable path (ledger.booking.portable) writes, one round trip
once the accounts are known, nothing on refusal, and a cached account that is not what the
database holds is caught by the statement itself."""

from __future__ import annotations

import json
import re

import django
import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from config.platform.exceptions import InsufficientFunds
from config.platform.models import AuditEntry, WebhookMessage
from config.platform.webhooks.endpoints import webhook_endpoint_create
from ledger import accounts as chart
from ledger import selectors
from ledger.accounts import REWARDS_EXPENSE
from ledger.booking import postgres
from ledger.booking.lines import PostingLine
from ledger.models import Account, AccountBalance, Transaction
from ledger.services.accounts import account_create
from ledger.services.transactions import (
    transaction_create,
    transaction_move,
    transaction_post,
    transaction_reverse,
    transaction_void,
)
from rules.rewards.models import Reward
from rules.rewards.services.programs import program_create
from rules.rewards.services.reward_records import reward_event_payload
from rules.rewards.services.rewards import reward_confirm, reward_create

# These count statements in Django's query log. Django 5.2 (what pip resolves on Python 3.11)
# logs a server-side prepared statement without its SQL, so the count is Django 6's only.
READS_DJANGO6_QUERY_LOG = pytest.mark.skipif(
    django.VERSION < (6,), reason="counts statements in Django 6's query log"
)


pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def create(program, beneficiary="alice", amount=1000, **kwargs):
    return reward_create(
        program=program,
        beneficiary=beneficiary,
        amount=amount,
        currency=program.currency,
        reward_type="cash",
        actor="test",
        **kwargs,
    )


def balance(program, beneficiary):
    account = Account.objects.get(program=program, code=f"user:{beneficiary}:rewards")
    return selectors.account_balance(account)


def as_stored(value):
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


@pytest.fixture
def dispatched(monkeypatch):
    calls: list[list] = []
    monkeypatch.setattr(
        "config.platform.webhooks.tasks.webhook_messages_dispatch", lambda ids: calls.append(ids)
    )
    return calls


@READS_DJANGO6_QUERY_LOG
def test_one_round_trip_once_the_accounts_are_known(program):
    create(program)  # opens alice's account; both accounts are then known to this process
    with CaptureQueriesContext(connection) as queries:
        reward, created = create(program)
    assert created
    [statement] = queries.captured_queries
    assert "INSERT INTO ledger_reward" in statement["sql"]
    assert connection.get_autocommit()  # no transaction block: the one statement commits
    assert Reward.objects.get(pk=reward.pk).transaction_id == reward.transaction.pk


def test_writes_the_rows_the_portable_path_writes(program):
    reward, created = create(
        program, beneficiary="bob", amount=700, metadata={"order": "o-1"}, source_key="evt:1"
    )
    assert created and reward.pk and not reward._state.adding
    stored = Reward.objects.select_related("transaction").get(pk=reward.pk)
    for field in ("beneficiary", "amount", "currency", "reward_type", "status", "metadata"):
        assert getattr(stored, field) == getattr(reward, field)
    assert stored.source_key == "evt:1" and stored.hold_reason == ""
    assert stored.transaction is not None
    assert stored.created_at == stored.updated_at == stored.transaction.created_at
    assert stored.transaction.kind == "pending"
    assert stored.transaction.reference == "reward:evt:1"
    assert [(h.status, h.actor, h.reason, h.at) for h in stored.history.all()] == [
        ("pending", "test", "", stored.created_at)
    ]
    entry = AuditEntry.objects.get(action="reward.created", object_id=str(reward.pk))
    assert (entry.program_id, entry.actor, entry.object_type) == (program.pk, "test", "reward")
    assert entry.before is None
    assert entry.after == as_stored(reward_event_payload(stored))
    assert balance(program, "bob")["pending"]["balance"] == 700


def test_outbox_rows_for_subscribed_endpoints_are_dispatched_after_commit(program, dispatched):
    subscribed = webhook_endpoint_create(
        program=program, url="https://example.com/a", events=["reward.created"], actor="test"
    )
    webhook_endpoint_create(
        program=program, url="https://example.com/b", events=["reward.paid"], actor="test"
    )
    with transaction.atomic():
        reward, _ = create(program)
        assert dispatched == []  # not before the reward is committed
    [message] = WebhookMessage.objects.all()
    assert message.endpoint_id == subscribed.pk and message.event_type == "reward.created"
    assert message.status == "pending" and message.attempts == 0
    entry = AuditEntry.objects.get(action="reward.created", object_id=str(reward.pk))
    assert message.payload == entry.after and message.payload["id"] == reward.pk
    assert dispatched == [[message.pk]]


def test_a_known_source_key_writes_nothing(program, dispatched):
    webhook_endpoint_create(
        program=program, url="https://example.com/a", events=["reward.created"], actor="test"
    )
    first, _ = create(program, source_key="evt:1")
    counts = (Transaction.objects.count(), AuditEntry.objects.count(), len(dispatched))
    again, created = create(program, amount=5, source_key="evt:1")
    assert not created and again.pk == first.pk and again.amount == 1000
    assert (Transaction.objects.count(), AuditEntry.objects.count(), len(dispatched)) == counts
    assert WebhookMessage.objects.count() == 1
    assert balance(program, "alice")["pending"]["balance"] == 1000


def test_a_cached_account_the_database_does_not_hold_is_caught(program):
    """The statement re-checks each account it locks; a mismatch writes nothing and the
    booking is retried with fresh lookups, so money never goes to the wrong account."""
    create(program, beneficiary="alice")
    create(program, beneficiary="bob")
    bob = Account.objects.get(program=program, code="user:bob:rewards")
    key = chart.cache_key(program.pk, "user:alice:rewards")
    impostor = Account.objects.get(pk=bob.pk)
    impostor.code = "user:alice:rewards"  # bob's row under alice's code
    chart._ACCOUNTS[key] = impostor
    reward, created = create(program, beneficiary="alice", amount=50)
    assert created
    assert balance(program, "alice")["pending"]["balance"] == 1050
    assert balance(program, "bob")["pending"]["balance"] == 1000
    assert chart._ACCOUNTS[key].pk != bob.pk
    assert {p.account.code for p in reward.transaction.postings.select_related("account")} == {
        "user:alice:rewards",
        "program:rewards_expense",
    }


def test_an_account_opened_in_a_rolled_back_transaction_is_not_cached(program):
    with pytest.raises(RuntimeError), transaction.atomic():
        create(program, beneficiary="carol")
        raise RuntimeError("caller fails after the reward")
    assert not Account.objects.filter(code="user:carol:rewards").exists()
    key = chart.cache_key(program.pk, "user:carol:rewards")
    assert key not in chart._ACCOUNTS
    _, created = create(program, beneficiary="carol")
    assert created and balance(program, "carol")["pending"]["balance"] == 1000


def test_one_prepared_statement_serves_every_amount_and_source(program):
    """Parameters are typed alike whatever their size, so rewards of any amount share one
    prepared statement per connection (planned once, not per call)."""
    for amount in (1, 300, 70_000, 5_000_000_000):
        create(program, amount=amount)
    create(program, amount=2, source_key="evt:9")  # the guard makes a second statement
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%INSERT INTO ledger_reward%"],
        )
        assert cursor.fetchone()[0] == 2


def test_the_statement_stays_within_what_psycopg_caches_the_conversion_of(program):
    """Longer, or with more parameters, psycopg re-parses its placeholders on every call
    (0.3 ms here, a fifth of a reward)."""
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH, MAX_CACHED_STATEMENT_PARAMS

    create(program)
    seen = []

    def spy(execute, sql, params, many, context):
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        create(program, source_key="evt:1", metadata={"order": "o-1"})
    [(sql, params)] = seen
    assert len(sql.encode()) <= MAX_CACHED_STATEMENT_LENGTH
    assert len(params) <= MAX_CACHED_STATEMENT_PARAMS


def test_without_prepared_statements(program, settings):
    """LEDGER_PREPARED_STATEMENTS = False (a pooler that cannot keep them) books the same."""
    settings.LEDGER_PREPARED_STATEMENTS = False
    create(program)
    reward, created = create(program, source_key="evt:1")
    assert created and create(program, source_key="evt:1") == (reward, False)
    assert balance(program, "alice")["pending"]["balance"] == 2000
    assert AuditEntry.objects.filter(action="reward.created").count() == 2


# --- the statement writes what the portable path writes ---------------------------------------


def _scenario(program):
    """Every kind of booking, through the public services: rewards (with and without a
    source_key, a duplicate), a confirmation, posted and pending transactions, a post, a void, a
    reversal, a move, a refused overdraft and a booking without an audit entry."""
    webhook_endpoint_create(
        program=program, url="https://example.com/a", events=["reward.created"], actor="test"
    )
    account_create(program=program, code="bank:cash", kind="asset", currency="INR")
    account_create(
        program=program, code="bank:safe", kind="asset", currency="INR", no_overdraft=True
    )
    reward, _ = create(program)
    create(program, beneficiary="bob", amount=700, metadata={"order": "o-1"}, source_key="e:1")
    assert create(program, amount=5, source_key="e:1")[1] is False
    with transaction.atomic():
        reward_confirm(reward=reward, actor="test")
    lines = [PostingLine("bank:cash", "debit", 5), PostingLine(REWARDS_EXPENSE, "credit", 5)]
    posted = transaction_create(program=program, postings=lines, reference="x")
    pending = transaction_create(program=program, postings=lines, pending=True)
    transaction_post(program=program, pending=pending)
    pending = transaction_create(program=program, postings=lines, pending=True)
    transaction_void(program=program, pending=pending, reason="no")
    transaction_reverse(program=program, original=posted, reason="why")
    pending = transaction_create(program=program, postings=lines, pending=True)
    transaction_move(program=program, txn=pending, step="post", actor="test")
    with pytest.raises(InsufficientFunds):
        transaction_create(
            program=program,
            postings=[PostingLine("bank:safe", "credit", 5), PostingLine("bank:cash", "debit", 5)],
        )
    transaction_create(program=program, postings=lines, audit=False)


_CLOCK = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?$")


def _booked_when_created(reward: Reward) -> bool:
    assert reward.transaction is not None  # every reward is booked
    return reward.created_at == reward.transaction.created_at


def _written(program):
    """Every row the scenario wrote for `program`, in the order written, with generated ids
    and clock readings replaced by what they stand for."""
    txns = list(Transaction.objects.filter(program=program).order_by("created_at"))
    rewards = list(Reward.objects.filter(program=program).order_by("id"))
    names = {str(t.pk): f"txn{i}" for i, t in enumerate(txns)}
    names |= {str(r.pk): f"reward{i}" for i, r in enumerate(rewards)}

    def plain(value, key=""):
        if isinstance(value, dict):
            return {k: plain(v, k) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if key in ("id", "object_id", "reversal") and str(value) in names:
            return names[str(value)]
        if isinstance(value, str) and _CLOCK.match(value):
            return "<time>"
        if isinstance(value, str):
            return re.sub("[0-9a-f-]{36}", lambda m: names.get(m[0], m[0]), value)
        return value

    balances: dict[str, list[int]] = {}
    for b in AccountBalance.objects.filter(account__program=program).select_related("account"):
        totals = balances.setdefault(b.account.code, [0, 0, 0, 0])
        for i, f in enumerate(
            ("posted_debits", "posted_credits", "pending_debits", "pending_credits")
        ):
            totals[i] += getattr(b, f)
    return plain(
        {
            "transactions": [
                {
                    "kind": t.kind,
                    "description": t.description,
                    "metadata": t.metadata,
                    "reference": t.reference,
                    "resolves": str(t.resolves_id),
                    "reverses": str(t.reverses_id),
                    "postings": [
                        (p.account.code, p.direction, p.amount, p.currency, p.kind)
                        for p in t.postings.select_related("account").order_by("id")
                    ],
                    "postings at": {p.created_at == t.created_at for p in t.postings.all()},
                }
                for t in txns
            ],
            "accounts": sorted(
                Account.objects.filter(program=program).values_list(
                    "code", "kind", "currency", "no_overdraft", "balance_shards"
                )
            ),
            "balances": balances,
            "rewards": [
                {
                    **{f: getattr(r, f) for f in ("beneficiary", "amount", "currency", "status")},
                    **{f: getattr(r, f) for f in ("reward_type", "metadata", "source_key")},
                    "hold_reason": r.hold_reason,
                    "transaction": str(r.transaction_id),
                    "at": _booked_when_created(r),
                    "history": [(h.status, h.actor, h.reason) for h in r.history.order_by("id")],
                }
                for r in rewards
            ],
            "audit": [
                {f: getattr(e, f) for f in ("actor", "action", "object_type", "object_id")}
                | {"before": e.before, "after": e.after, "reason": e.reason}
                for e in AuditEntry.objects.filter(program=program)
                .exclude(action__in=["program.created", "webhook_endpoint.created"])
                .order_by("id")
            ],
            "outbox": [
                (m.endpoint.url, m.event_type, m.payload, m.status, m.attempts)
                for m in WebhookMessage.objects.filter(program=program).order_by("created_at")
            ],
        }
    )


def test_the_statement_writes_exactly_what_the_portable_path_writes(program, monkeypatch):
    """STYLE.md, "Fast paths are an implementation detail": the same scenario through the
    public services, once through the statement and once through the portable path (on the
    same database), writes the same rows."""
    monkeypatch.setattr("config.platform.webhooks.tasks.webhook_messages_dispatch", list)
    _scenario(program)
    fast = _written(program)
    assert len(fast["transactions"]) == 12 and len(fast["outbox"]) == 2  # it ran them all
    other, _ = program_create(slug="other", name="Other", currency="INR")
    monkeypatch.setattr(postgres, "in_use", lambda: False)
    _scenario(other)
    assert _written(other) == fast


def test_a_rider_cannot_take_a_name_the_statement_defines():
    for name in (*postgres.OWN_NAMES, "l0", "p12"):
        with pytest.raises(ValueError, match="defines"):
            postgres.Rider(ctes=[(name, "SELECT 1")], params=[])
