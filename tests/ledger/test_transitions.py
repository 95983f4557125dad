"""The reward lifecycle table (SPEC §4), pair by pair, through the services and the API.

TRANSITIONS in rules/rewards/services/rewards.py is the only status guard: these tests walk every
(from, to) pair of the five statuses and check what a client sees (200 with the move, 200 with no
second effect for a repeat, 409 `invalid_transition` with nothing changed) and what the ledger
booked (the user's balance), so that a wrong entry in the table, or a service that guards on its
own, fails here."""

from __future__ import annotations

import itertools

import pytest
from django.urls import reverse

from config.platform.exceptions import InvalidTransition
from config.platform.models import AuditEntry
from ledger.booking.lines import PostingLine
from ledger.models import Transaction
from ledger.services.transactions import transaction_create
from rules.rewards.models import Reward, RewardHistory
from rules.rewards.services import rewards as reward_services
from rules.rewards.services.rewards import TRANSITIONS, reward_transition

pytestmark = pytest.mark.django_db(transaction=True)

AMOUNT = 5000
# SPEC §4: pending → confirmed → paid, reversed from pending or confirmed, clawed_back from paid.
EXPECTED = {
    "pending": {"confirmed", "reversed"},
    "confirmed": {"paid", "reversed"},
    "paid": {"clawed_back"},
    "reversed": set(),
    "clawed_back": set(),
}
STATUSES = list(EXPECTED)
# The API step into each status a client can ask for; paid comes from payouts, pending from
# creation, both through reward_transition.
API_STEPS = {"confirmed": "confirm", "reversed": "reverse", "clawed_back": "clawback"}
# GET users/alice/balance for a single reward of AMOUNT in each status: every status books
# something different, so the balance tells whether the right booking happened.
BALANCES = {
    "pending": {"pending": AMOUNT, "available": 0, "paid": 0},
    "confirmed": {"pending": 0, "available": AMOUNT, "paid": 0},
    "paid": {"pending": 0, "available": 0, "paid": AMOUNT},
    "reversed": {"pending": 0, "available": 0, "paid": 0},
    "clawed_back": {"pending": 0, "available": -AMOUNT, "paid": AMOUNT},
}
# How each status is reached from pending (the shortest path the table allows).
PATHS = {
    "pending": [],
    "confirmed": ["confirmed"],
    "paid": ["confirmed", "paid"],
    "reversed": ["reversed"],
    "clawed_back": ["confirmed", "paid", "clawed_back"],
}
PAIRS = list(itertools.product(STATUSES, STATUSES))


def _pay(program, reward: Reward) -> None:
    """What payout execution does for one reward: the transfer out of the user's account and
    reward_transition to paid."""
    transaction_create(
        program=program,
        postings=[
            PostingLine("user:alice:rewards", "debit", reward.amount),
            PostingLine("program:payouts_clearing", "credit", reward.amount),
        ],
        reference=f"payout:test:{reward.pk}",
    )
    reward_transition(reward=reward, to_status="paid", actor="test")


def _move(program, reward: Reward, to_status: str) -> None:
    if to_status == "confirmed":
        reward_services.reward_confirm(reward=reward, actor="test")
    elif to_status == "reversed":
        reward_services.reward_reverse(reward=reward, reason="test", actor="test")
    elif to_status == "clawed_back":
        reward_services.reward_clawback(reward=reward, reason="test", actor="test")
    else:
        _pay(program, reward)


def _reward_in(program, status: str) -> Reward:
    reward, _ = reward_services.reward_create(
        program=program,
        beneficiary="alice",
        amount=AMOUNT,
        currency="INR",
        reward_type="cash",
        actor="test",
    )
    for step in PATHS[status]:
        _move(program, Reward.objects.get(pk=reward.pk), step)
    reward = Reward.objects.get(pk=reward.pk)
    assert reward.status == status
    return reward


def _snapshot(api, url, reward: Reward) -> dict:
    return {
        "reward": api.get(url(f"rewards/{reward.pk}")).json(),
        "balance": api.get(url("users/alice/balance")).json(),
        "transactions": Transaction.objects.count(),
        "history": RewardHistory.objects.filter(reward=reward).count(),
        "audit": AuditEntry.objects.count(),
    }


def _balance(status: str) -> dict:
    return {"user": "alice", "currency": "INR", **BALANCES[status]}


def _assert_booking(reward: Reward, source: str, target: str) -> None:
    """The ledger transaction the move booked says what it is (SPEC §3: corrections are new
    transactions that explain themselves)."""
    booking = reward.transaction
    assert booking is not None
    if target == "confirmed":
        assert booking.resolution.kind == "post"
    elif target == "reversed" and source == "pending":
        assert booking.resolution.kind == "void"
    elif target == "reversed":
        posting = booking.resolution  # a posted two-phase transfer is reversed by its post
        reversal = posting.reversal
        assert reversal.description == f"Reversal of {posting.pk}: pair test"
        assert reversal.metadata == {"reason": "pair test"}
    else:
        clawback = reward.clawback_transaction
        assert clawback is not None
        assert clawback.description == f"Clawback of reward {reward.pk}: pair test"
        assert clawback.metadata == {"reward": reward.pk, "reason": "pair test"}
        assert clawback.reference == f"clawback:reward:{reward.pk}"


def test_the_table_is_spec_4():
    assert {source: set(targets) for source, targets in TRANSITIONS.items()} == EXPECTED


def test_every_move_the_table_allows_books_something():
    """Every allowed move has its ledger booking (confirmed → paid: the payout's transfer)."""
    moves = {(s, t) for s, targets in TRANSITIONS.items() for t in targets}
    assert moves == {*reward_services.BOOKINGS, ("confirmed", "paid")}


@pytest.mark.parametrize(("source", "target"), [p for p in PAIRS if p[1] in API_STEPS])
def test_api_step(api, url, program, source, target):
    reward = _reward_in(program, source)
    before = _snapshot(api, url, reward)
    assert before["balance"] == _balance(source)
    body = {} if target == "confirmed" else {"reason": "pair test"}
    r = api.post(url(f"rewards/{reward.pk}/{API_STEPS[target]}"), body, format="json")
    after = _snapshot(api, url, reward)

    if source == target:  # a repeat: 200 with the reward, no second effect
        assert r.status_code == 200, r.json()
        assert r.json() == before["reward"]
        assert after == before
    elif target in EXPECTED[source]:
        assert r.status_code == 200, r.json()
        assert r.json()["status"] == target
        assert [h["status"] for h in r.json()["history"]] == ["pending", *PATHS[source], target]
        assert after["reward"] == r.json()
        assert after["balance"] == _balance(target)
        assert after["transactions"] == before["transactions"] + 1
        assert after["history"] == before["history"] + 1
        # One audit entry, the reward's (its booking is not audited a second time).
        assert after["audit"] == before["audit"] + 1
        assert AuditEntry.objects.get(action=f"reward.{target}", object_id=str(reward.pk))
        _assert_booking(Reward.objects.get(pk=reward.pk), source, target)
    else:
        assert r.status_code == 409, r.json()
        assert r.json()["code"] == "invalid_transition"
        assert f"is {source}" in r.json()["detail"]
        assert after == before


@pytest.mark.parametrize(("source", "target"), [p for p in PAIRS if p[1] not in API_STEPS])
def test_reward_transition_to_paid_or_pending(api, url, program, source, target):
    """Paid and pending have no API step: payouts call reward_transition (no repeat there:
    a reward is paid once), and nothing may return a reward to pending."""
    reward = _reward_in(program, source)
    before = _snapshot(api, url, reward)
    if target in EXPECTED[source]:
        _pay(program, reward)
        assert Reward.objects.get(pk=reward.pk).status == target
        assert api.get(url("users/alice/balance")).json() == _balance(target)
        return
    with pytest.raises(InvalidTransition, match=f"is {source}"):
        reward_transition(reward=reward, to_status=target, actor="test")
    assert _snapshot(api, url, reward) == before


def test_a_held_reward_can_be_reversed_but_not_confirmed(api, url, program):
    reward = _reward_in(program, "pending")
    Reward.objects.filter(pk=reward.pk).update(hold_reason="review")
    r = api.post(url(f"rewards/{reward.pk}/confirm"), {}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    assert "held for review" in r.json()["detail"]
    r = api.post(url(f"rewards/{reward.pk}/reverse"), {"reason": "fraud"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "reversed"
    assert api.get(url("users/alice/balance")).json() == _balance("reversed")


def test_refusals_say_what_the_reward_can_do_instead(program):
    paid = _reward_in(program, "paid")
    with pytest.raises(InvalidTransition) as refused:
        reward_services.reward_reverse(reward=paid, reason="refund", actor="test")
    assert str(refused.value) == (
        f"Reward {paid.pk} is paid; only a pending or confirmed reward can be reversed. "
        "It can be clawed back."
    )
    reversed_ = _reward_in(program, "reversed")
    with pytest.raises(InvalidTransition) as refused:
        reward_services.reward_clawback(reward=reversed_, reason="refund", actor="test")
    assert str(refused.value) == (
        f"Reward {reversed_.pk} is reversed; only a paid reward can be clawed back."
    )


@pytest.mark.parametrize("status", STATUSES)
def test_admin_buttons_are_the_moves_the_table_allows(admin_client, program, status):
    reward = _reward_in(program, status)
    page = admin_client.get(reverse("admin:ledger_reward_change", args=[reward.pk]))
    assert page.status_code == 200
    offered = {url.rsplit("/", 2)[-2] for _, url in page.context["reward_buttons"]}
    assert offered == {API_STEPS[t] for t in EXPECTED[status] if t in API_STEPS}


def test_confirm_due_and_payouts_pick_the_statuses_the_table_names():
    assert reward_services.reward_statuses_that_can_become("confirmed") == ["pending"]
    assert reward_services.reward_statuses_that_can_become("paid") == ["confirmed"]
    assert reward_services.reward_statuses_that_can_become("reversed") == [
        "pending",
        "confirmed",
    ]
    assert reward_services.reward_statuses_that_can_become("pending") == []


# --- payout batches (SPEC §7): BATCH_TRANSITIONS, step by step through the services ------------

BATCH_EXPECTED = {
    "draft": {"pending_approval", "rejected"},
    "pending_approval": {"approved", "rejected"},
    "approved": {"executed", "rejected"},
    "executed": set(),
    "rejected": set(),
}
MAKER, CHECKER = "user:maker", "user:checker"
# How each batch status is reached from a draft with one item.
BATCH_PATHS = {
    "draft": [],
    "pending_approval": ["submit"],
    "approved": ["submit", "approve"],
    "executed": ["submit", "approve", "execute"],
    "rejected": ["reject"],
}
# The status each batch step moves to ("add_item" keeps a draft a draft: allowed while the batch
# can still be submitted).
BATCH_STEPS = {
    "submit": "pending_approval",
    "approve": "approved",
    "reject": "rejected",
    "execute": "executed",
    "add_item": "pending_approval",
}


def _batch_step(batch, step: str):
    from rules.rewards.services import payouts

    if step == "submit":
        return payouts.payout_batch_submit(batch=batch, actor=MAKER)
    if step == "approve":
        return payouts.payout_batch_approve(batch=batch, actor=CHECKER)
    if step == "reject":
        return payouts.payout_batch_reject(batch=batch, actor=CHECKER, reason="no")
    if step == "execute":
        return payouts.payout_batch_execute(batch=batch, actor=CHECKER)
    return payouts.payout_item_add(batch=batch, beneficiary="dave", amount=100, actor=MAKER)


def _batch_in(program, status: str):
    from rules.rewards.services import payouts

    for beneficiary in ("carol", "dave"):
        reward, _ = reward_services.reward_create(
            program=program,
            beneficiary=beneficiary,
            amount=AMOUNT,
            currency="INR",
            reward_type="cash",
            actor="test",
        )
        reward_services.reward_confirm(reward=reward, actor="test")
    batch = payouts.payout_batch_create(program=program, actor=MAKER)
    payouts.payout_item_add(batch=batch, beneficiary="carol", amount=1000, actor=MAKER)
    for step in BATCH_PATHS[status]:
        _batch_step(batch, step)
    batch.refresh_from_db()
    assert batch.status == status
    return batch


def _batch_audit() -> int:
    return AuditEntry.objects.filter(object_type="payout_batch").count()


def test_the_batch_table_is_spec_7():
    from rules.rewards.services.payouts import BATCH_TRANSITIONS

    assert {s: set(targets) for s, targets in BATCH_TRANSITIONS.items()} == BATCH_EXPECTED


@pytest.mark.parametrize(("source", "step"), list(itertools.product(BATCH_EXPECTED, BATCH_STEPS)))
def test_batch_step(program, source, step):
    batch = _batch_in(program, source)
    items, audit = batch.items.count(), _batch_audit()
    target = BATCH_STEPS[step]
    if step == "execute" and source == "executed":  # SPEC §7: executing twice changes nothing
        assert _batch_step(batch, step).status == "executed"
        assert _batch_audit() == audit
        assert Transaction.objects.filter(reference__startswith="payout:").count() == 1
    elif target in BATCH_EXPECTED[source]:
        _batch_step(batch, step)
        batch.refresh_from_db()
        if step == "add_item":
            assert batch.status == source and batch.items.count() == items + 1
        else:
            assert batch.status == target
        assert _batch_audit() == audit + 1
    else:
        with pytest.raises(InvalidTransition, match=f"is {source}"):
            _batch_step(batch, step)
        batch.refresh_from_db()
        assert batch.status == source and batch.items.count() == items
        assert _batch_audit() == audit


def test_confirm_due_goes_on_after_a_reward_that_moved_meanwhile(program, monkeypatch):
    """A reward reversed between the query and its confirmation (a race) is skipped; the
    others are still confirmed."""
    from datetime import timedelta

    from django.utils import timezone

    program.hold_days = 1
    program.save(update_fields=["hold_days"])
    first, second, third = (_reward_in(program, "pending") for _ in range(3))
    real_confirm = reward_services._confirm

    def racing_confirm(*, reward, actor, reason):
        if reward.pk == first.pk:
            reward_services.reward_reverse(reward=first, reason="meanwhile", actor="test")
        return real_confirm(reward=reward, actor=actor, reason=reason)

    monkeypatch.setattr(reward_services, "_confirm", racing_confirm)
    assert reward_services.rewards_confirm_due(now=timezone.now() + timedelta(days=2)) == 2
    assert Reward.objects.get(pk=first.pk).status == "reversed"
    assert Reward.objects.get(pk=second.pk).status == "confirmed"
    assert Reward.objects.get(pk=third.pk).status == "confirmed"


@pytest.mark.parametrize(
    ("service", "status", "verb"),
    [
        (reward_services.reward_reverse, "pending", "reverse"),
        (reward_services.reward_clawback, "paid", "claw back"),
    ],
)
@pytest.mark.parametrize("reason", ["", "   "])
def test_a_step_that_needs_a_reason_refuses_a_blank_one(program, service, status, verb, reason):
    from config.platform.exceptions import ValidationFailed

    reward = _reward_in(program, status)
    with pytest.raises(ValidationFailed) as refused:
        service(reward=reward, reason=reason, actor="test")
    assert str(refused.value) == f"A reason is required to {verb} a reward."
    assert refused.value.errors == [{"field": "reason", "message": "This field is required."}]
    assert Reward.objects.get(pk=reward.pk).status == status
