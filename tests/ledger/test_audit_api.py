"""The audit log (SPEC §8): one entry per state change, written in the same database
transaction (a failing service leaves none), and GET …/audit-log with filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from config.platform.api_keys import api_key_create, api_key_revoke, service_identity_get_or_create
from config.platform.exceptions import FourEyesViolation, InsufficientFunds
from config.platform.models import AuditEntry
from ledger.booking.lines import PostingLine
from ledger.services.accounts import account_create
from ledger.services.reconciliation_runs import reconciliation_record
from ledger.services.transactions import (
    transaction_create,
    transaction_post,
    transaction_reverse,
    transaction_void,
)
from rules.rewards.services import payouts
from rules.rewards.services.credits import credit_apply
from rules.rewards.services.programs import program_create
from rules.rewards.services.rewards import (
    reward_clawback,
    reward_confirm,
    reward_create,
    reward_release,
    reward_reverse,
)
from tests.ledger.operator_fixtures import *  # noqa: F403
from tests.ledger.operator_fixtures import APPROVER, CREATOR

pytestmark = pytest.mark.django_db(transaction=True)

LINES = [
    PostingLine("program:rewards_expense", "debit", 100),
    PostingLine("program:payouts_clearing", "credit", 100),
]


def _reward(program, key, hold_reason=""):
    return reward_create(
        program=program,
        beneficiary="carol",
        amount=1000,
        currency="INR",
        reward_type="cash",
        source_key=key,
        hold_reason=hold_reason,
        actor="user:ops",
    )[0]


def _paid(program, approved_batch, key):
    reward = reward_confirm(reward=_reward(program, key), actor="user:ops")
    payouts.payout_batch_execute(batch=approved_batch({"carol": None}), actor=APPROVER)
    reward.refresh_from_db()
    return reward


# Each case: (setup(program, approved_batch) -> state, the service call, expected action).
SERVICES = {
    "program_create": (
        lambda p, b: None,
        lambda p, s: program_create(slug="beta", name="Beta", currency="INR", actor="user:ops"),
        "program.created",
    ),
    "api_key_create": (
        # The owner exists first (creating a user is audited on its own).
        lambda p, b: service_identity_get_or_create(username="svc-audit")[0],
        lambda p, s: api_key_create(program=p, owner=s),
        "api_key.created",
    ),
    "api_key_revoke": (
        lambda p, b: api_key_create(program=p)[0],
        lambda p, s: api_key_revoke(api_key=s, actor="user:ops", reason="leaked"),
        "api_key.revoked",
    ),
    "account_create": (
        lambda p, b: None,
        lambda p, s: account_create(
            program=p, code="user:x:wallet", kind="liability", currency="INR"
        ),
        "account.created",
    ),
    "transaction_create": (
        lambda p, b: None,
        lambda p, s: transaction_create(program=p, postings=LINES),
        "transaction.created",
    ),
    "transaction_post": (
        lambda p, b: transaction_create(program=p, postings=LINES, pending=True),
        lambda p, s: transaction_post(program=p, pending=s),
        "transaction.post",
    ),
    "transaction_void": (
        lambda p, b: transaction_create(program=p, postings=LINES, pending=True),
        lambda p, s: transaction_void(program=p, pending=s),
        "transaction.void",
    ),
    "transaction_reverse": (
        lambda p, b: transaction_create(program=p, postings=LINES),
        lambda p, s: transaction_reverse(program=p, original=s, reason="typo"),
        "transaction.reversed",
    ),
    "reward_create": (lambda p, b: None, lambda p, s: _reward(p, "new"), "reward.created"),
    "reward_confirm": (
        lambda p, b: _reward(p, "c"),
        lambda p, s: reward_confirm(reward=s, actor="user:ops"),
        "reward.confirmed",
    ),
    "reward_reverse": (
        lambda p, b: _reward(p, "r"),
        lambda p, s: reward_reverse(reward=s, reason="fraud", actor="user:ops"),
        "reward.reversed",
    ),
    "reward_release": (
        lambda p, b: _reward(p, "h", hold_reason="velocity"),
        lambda p, s: reward_release(reward=s, reason="ok", actor="user:ops"),
        "reward.released",
    ),
    "reward_clawback": (
        lambda p, b: _paid(p, b, "cb"),
        lambda p, s: reward_clawback(reward=s, reason="refund", actor="user:ops"),
        "reward.clawed_back",
    ),
    "credit_apply": (
        lambda p, b: None,
        lambda p, s: credit_apply(
            program=p,
            owner_id="carol",
            operation="CREDIT_ADD",
            amount=None,
            nonce="n1",
            actor="user:ops",
        ),
        None,  # the credits service names its own action; one entry is what matters
    ),
    "payout_batch_create": (
        lambda p, b: None,
        lambda p, s: payouts.payout_batch_create(program=p, actor=CREATOR),
        "payout_batch.created",
    ),
    "payout_item_add": (
        lambda p, b: (
            reward_confirm(reward=_reward(p, "i"), actor="t"),
            payouts.payout_batch_create(program=p, actor=CREATOR),
        )[1],
        lambda p, s: payouts.payout_item_add(batch=s, beneficiary="carol", actor=CREATOR),
        "payout_batch.item_added",
    ),
    "payout_batch_submit": (
        lambda p, b: (
            reward_confirm(reward=_reward(p, "s"), actor="t"),
            s := payouts.payout_batch_create(program=p, actor=CREATOR),
            payouts.payout_item_add(batch=s, beneficiary="carol", actor=CREATOR),
        )[1],
        lambda p, s: payouts.payout_batch_submit(batch=s, actor=CREATOR),
        "payout_batch.submitted",
    ),
    "payout_batch_approve": (
        lambda p, b: (
            reward_confirm(reward=_reward(p, "a"), actor="t"),
            s := payouts.payout_batch_create(program=p, actor=CREATOR),
            payouts.payout_item_add(batch=s, beneficiary="carol", actor=CREATOR),
            payouts.payout_batch_submit(batch=s, actor=CREATOR),
        )[1],
        lambda p, s: payouts.payout_batch_approve(batch=s, actor=APPROVER),
        "payout_batch.approved",
    ),
    "payout_batch_reject": (
        lambda p, b: payouts.payout_batch_create(program=p, actor=CREATOR),
        lambda p, s: payouts.payout_batch_reject(batch=s, actor=APPROVER, reason="no"),
        "payout_batch.rejected",
    ),
    "reconciliation_record": (
        lambda p, b: None,
        lambda p, s: reconciliation_record(program=p, actor="user:ops"),
        "reconciliation.completed",
    ),
}


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_appends_one_entry(program, approved_batch, name):
    setup, call, action = SERVICES[name]
    state = setup(program, approved_batch)
    before = set(AuditEntry.objects.values_list("pk", flat=True))

    call(program, state)

    new = AuditEntry.objects.exclude(pk__in=before)
    assert new.count() == 1, list(new.values_list("action", flat=True))
    if action is not None:
        assert new.get().action == action


def test_execute_appends_an_entry_per_change(program, confirmed_reward, approved_batch):
    """Execution changes the batch, books a transfer and pays a reward: each is recorded."""
    confirmed_reward("carol", 1000)
    batch = approved_batch({"carol": None})
    before = set(AuditEntry.objects.values_list("pk", flat=True))
    payouts.payout_batch_execute(batch=batch, actor=APPROVER)
    actions = sorted(AuditEntry.objects.exclude(pk__in=before).values_list("action", flat=True))
    assert actions == ["payout_batch.executed", "reward.paid", "transaction.created"]


def test_a_failing_service_leaves_no_entry(program, confirmed_reward, approved_batch):
    confirmed_reward("carol", 1000)
    confirmed_reward("dave", 1000)
    batch = approved_batch({"carol": None, "dave": None})
    # dave's balance shrinks after approval: carol's transfer is booked first, then dave's
    # re-check fails and everything, audit entries included, rolls back.
    transaction_create(
        program=program,
        postings=[
            PostingLine("user:dave:rewards", "debit", 1),
            PostingLine("program:payouts_clearing", "credit", 1),
        ],
        audit=False,
    )
    count = AuditEntry.objects.count()
    with pytest.raises(InsufficientFunds):
        payouts.payout_batch_execute(batch=batch, actor=APPROVER)
    with pytest.raises(FourEyesViolation):
        payouts.payout_batch_approve(batch=batch, actor=CREATOR)
    assert AuditEntry.objects.count() == count


def test_entry_rolls_back_with_the_outer_transaction(program):
    count = AuditEntry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        payouts.payout_batch_create(program=program, actor=CREATOR)
        raise RuntimeError("the caller failed after the service returned")
    assert AuditEntry.objects.count() == count


def test_the_database_refuses_to_change_entries(program):
    entry = AuditEntry.objects.first()
    assert entry is not None
    for sql in ("UPDATE ledger_auditentry SET actor = 'x'", "DELETE FROM ledger_auditentry"):
        with pytest.raises(DatabaseError), transaction.atomic():
            with connection.cursor() as c:
                c.execute(f"{sql} WHERE id = %s", [entry.pk])
    entry.refresh_from_db()
    assert entry.actor == "system"


def test_audit_log_api_filters_and_pages(api, url, program):
    other, _ = program_create(slug="other", name="Other", currency="INR")
    payouts.payout_batch_create(program=other, actor="user:zed")
    b1 = payouts.payout_batch_create(program=program, actor=CREATOR)
    payouts.payout_batch_reject(batch=b1, actor=APPROVER, reason="dup")
    b2 = payouts.payout_batch_create(program=program, actor=APPROVER)

    results = api.get(url("audit-log")).json()["results"]
    assert "user:zed" not in {e["actor"] for e in results}
    assert set(results[0]) == {
        "id",
        "at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "before",
        "after",
        "reason",
        "request_id",
    }
    r = api.get(url("audit-log"), {"action": "payout_batch.created"})
    assert [e["object_id"] for e in r.json()["results"]] == [str(b2.pk), str(b1.pk)]
    r = api.get(url("audit-log"), {"object_type": "payout_batch", "object_id": b1.pk})
    assert [e["action"] for e in r.json()["results"]] == [
        "payout_batch.rejected",
        "payout_batch.created",
    ]
    assert r.json()["results"][0]["reason"] == "dup"
    r = api.get(url("audit-log"), {"actor": APPROVER})
    assert {e["object_id"] for e in r.json()["results"]} == {str(b1.pk), str(b2.pk)}
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    assert api.get(url("audit-log"), {"since": future}).json()["results"] == []
    r = api.get(url("audit-log"), {"since": "yesterday"})
    assert (r.status_code, r.json()["code"]) == (400, "validation_error")
    r = api.get(url("audit-log"), {"since": "2026-01-01T00:00:00"})  # no timezone
    assert r.status_code == 400

    page = api.get(url("audit-log"), {"limit": 2}).json()
    rest = api.get(page["next"]).json()
    seen = [e["id"] for e in page["results"] + rest["results"]]
    assert len(seen) == len(set(seen)) and len(page["results"]) == 2


def test_request_id_is_recorded(api, url):
    r = api.post(url("payout-batches"), {}, format="json", HTTP_X_REQUEST_ID="req-42")
    entry = AuditEntry.objects.get(action="payout_batch.created", object_id=r.json()["id"])
    assert entry.request_id == "req-42"
