"""Rewards API (SPEC §4), through HTTP with committed transactions."""

from __future__ import annotations

import pytest

from config.platform.models import AuditEntry
from ledger import selectors
from ledger.models import Account, Transaction
from rules.rewards.models import Reward

pytestmark = pytest.mark.django_db(transaction=True)

BODY = {"beneficiary": "alice", "amount": 5000, "currency": "INR", "reward_type": "cash"}


def create(api, url, key="k1", **overrides):
    return api.post(url("rewards"), {**BODY, **overrides}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def step(api, url, reward_id, action, **body):
    return api.post(url(f"rewards/{reward_id}/{action}"), body, format="json")


def balance(program, code):
    return selectors.account_balance(Account.objects.get(program=program, code=code))


def test_create_returns_the_spec_shape_and_books_a_pending_transaction(api, url, program):
    r = create(api, url, metadata={"campaign": "spring"})
    assert r.status_code == 201, r.json()
    body = r.json()
    assert set(body) == {
        "id",
        "beneficiary",
        "amount",
        "currency",
        "reward_type",
        "status",
        "metadata",
        "created_at",
        "history",
        "hold_reason",
    }
    assert body["status"] == "pending" and body["amount"] == 5000 and body["hold_reason"] == ""
    assert body["metadata"] == {"campaign": "spring"}
    assert body["created_at"].endswith("Z")
    [entry] = body["history"]
    assert entry["status"] == "pending" and entry["actor"] == "user:api-acme"  # the key's owner
    assert set(entry) == {"status", "at", "actor", "reason"}
    user = balance(program, "user:alice:rewards")
    assert user["pending"]["credits"] == 5000 and user["posted"]["balance"] == 0
    assert balance(program, "program:rewards_expense")["pending"]["debits"] == 5000
    reward = Reward.objects.get(pk=body["id"])
    assert reward.transaction is not None
    assert reward.transaction.kind == Transaction.Kind.PENDING
    assert AuditEntry.objects.filter(action="reward.created", object_id=str(body["id"])).exists()


def test_create_replay_and_key_reuse(api, url, program):
    first = create(api, url, key="same")
    replay = create(api, url, key="same")
    assert replay.status_code == 201 and replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    other = create(api, url, key="same", amount=6000)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert Reward.objects.count() == 1
    assert balance(program, "user:alice:rewards")["pending"]["credits"] == 5000


def test_create_requires_an_idempotency_key(api, url):
    r = api.post(url("rewards"), BODY, format="json")
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_required"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"amount": 10.5}, "amount"),
        ({"amount": "5000"}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": True}, "amount"),
        ({"reward_type": "gold"}, "reward_type"),
        ({"beneficiary": "al ice"}, "beneficiary"),
        ({"currency": "inr"}, "currency"),
        ({"ammount": 5}, "ammount"),
        ({"metadata": [1]}, "metadata"),
    ],
)
def test_invalid_create_is_400_and_changes_nothing(api, url, override, field):
    r = create(api, url, **override)
    assert r.status_code == 400, r.json()
    body = r.json()
    assert r["Content-Type"] == "application/problem+json"
    assert body["code"] == "validation_error"
    assert field in {e["field"] for e in body["errors"]}
    assert not Reward.objects.exists() and not Transaction.objects.exists()
    # Nothing was stored for the key: the corrected request goes through with it.
    assert create(api, url).status_code == 201


def test_other_currency_is_currency_mismatch(api, url):
    r = create(api, url, currency="USD")
    assert r.status_code == 400 and r.json()["code"] == "currency_mismatch"
    assert not Reward.objects.exists()


def test_confirm_posts_and_repeating_it_has_no_second_effect(api, url, program):
    rid = create(api, url).json()["id"]
    r = step(api, url, rid, "confirm")
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "confirmed"
    assert [h["status"] for h in r.json()["history"]] == ["pending", "confirmed"]
    again = step(api, url, rid, "confirm")
    assert again.status_code == 200 and again.json() == r.json()
    user = balance(program, "user:alice:rewards")
    assert user["posted"]["balance"] == 5000 and user["pending"]["balance"] == 0
    assert Transaction.objects.filter(kind="post").count() == 1


def test_reverse_pending_voids_and_reverse_confirmed_books_a_reversal(api, url, program):
    pending = create(api, url, key="a").json()["id"]
    confirmed = create(api, url, key="b", amount=700).json()["id"]
    step(api, url, confirmed, "confirm")

    r = step(api, url, pending, "reverse", reason="duplicate signup")
    assert r.status_code == 200 and r.json()["status"] == "reversed"
    assert r.json()["history"][-1]["reason"] == "duplicate signup"
    r = step(api, url, confirmed, "reverse", reason="refund")
    assert r.status_code == 200 and r.json()["status"] == "reversed"
    again = step(api, url, confirmed, "reverse", reason="refund")
    assert again.status_code == 200 and again.json() == r.json()

    assert Transaction.objects.filter(kind="void").count() == 1
    assert Transaction.objects.filter(kind="reversal").count() == 1
    user = balance(program, "user:alice:rewards")
    assert user["posted"]["balance"] == 0 and user["pending"]["balance"] == 0


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": 5}])
def test_reverse_requires_a_reason(api, url, body):
    rid = create(api, url).json()["id"]
    r = api.post(url(f"rewards/{rid}/reverse"), body, format="json")
    assert r.status_code == 400 and r.json()["code"] == "validation_error", r.json()
    assert Reward.objects.get(pk=rid).status == "pending"


def test_forbidden_steps_are_invalid_transition(api, url):
    rid = create(api, url).json()["id"]
    step(api, url, rid, "reverse", reason="fraud")
    r = step(api, url, rid, "confirm")
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    r = step(api, url, rid, "clawback", reason="refund")
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    assert Reward.objects.get(pk=rid).status == "reversed"


def _paid_reward(api, url, program):
    """A confirmed reward marked paid the way payouts do: a transfer out of the user's account
    (reference "payout:...") and reward_transition."""
    from ledger.booking.lines import PostingLine
    from ledger.services.transactions import transaction_create
    from rules.rewards.services.rewards import reward_transition

    rid = create(api, url, key="paid").json()["id"]
    step(api, url, rid, "confirm")
    transaction_create(
        program=program,
        postings=[
            PostingLine("user:alice:rewards", "debit", 5000),
            PostingLine("program:payouts_clearing", "credit", 5000),
        ],
        reference="payout:1",
    )
    reward_transition(reward=Reward.objects.get(pk=rid), to_status="paid", actor="test")
    return rid


def test_paid_reward_cannot_be_reversed_but_can_be_clawed_back_once(api, url, program):
    rid = _paid_reward(api, url, program)
    r = step(api, url, rid, "reverse", reason="refund")
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    r = step(api, url, rid, "confirm")
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"

    r = step(api, url, rid, "clawback", reason="customer refund")
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "clawed_back"
    assert [h["status"] for h in r.json()["history"]] == [
        "pending",
        "confirmed",
        "paid",
        "clawed_back",
    ]
    again = step(api, url, rid, "clawback", reason="customer refund")
    assert again.status_code == 200 and again.json() == r.json()
    # The user's account was emptied by the payout; the clawback takes it below zero.
    assert balance(program, "user:alice:rewards")["posted"]["balance"] == -5000
    assert Transaction.objects.filter(reference=f"clawback:reward:{rid}").count() == 1
    bal = api.get(url("users/alice/balance")).json()
    assert bal == {
        "user": "alice",
        "currency": "INR",
        "pending": 0,
        "available": -5000,
        "paid": 5000,
    }


def test_clawback_requires_a_reason(api, url, program):
    rid = _paid_reward(api, url, program)
    r = step(api, url, rid, "clawback")
    assert r.status_code == 400 and r.json()["code"] == "validation_error"
    assert Reward.objects.get(pk=rid).status == "paid"


def test_get_and_unknown_rewards(api, url):
    rid = create(api, url).json()["id"]
    r = api.get(url(f"rewards/{rid}"))
    assert r.status_code == 200 and r.json()["id"] == rid
    for missing in ["999999", "abc"]:
        r = api.get(url(f"rewards/{missing}"))
        assert r.status_code == 404 and r.json()["code"] == "not_found"
        r = step(api, url, missing, "confirm")
        assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_another_programs_reward_is_not_found(api, url, program):
    from rest_framework.test import APIClient

    from config.platform.api_keys import api_key_create
    from rules.rewards.services.programs import program_create

    rid = create(api, url).json()["id"]
    other, _ = program_create(slug="other", name="Other", currency="INR")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=other)[1]}")
    assert client.get(url(f"rewards/{rid}", slug="other")).status_code == 404
    assert client.get(url(f"rewards/{rid}")).status_code == 404
    assert client.post(url(f"rewards/{rid}/confirm", slug="other")).status_code == 404
    assert Reward.objects.get(pk=rid).status == "pending"


def test_list_filters_and_cursor_pagination(api, url):
    ids = [create(api, url, key=f"k{i}", amount=100 + i).json()["id"] for i in range(5)]
    create(api, url, key="bob", beneficiary="bob")
    step(api, url, ids[0], "confirm")

    r = api.get(url("rewards"), {"limit": 2})
    assert r.status_code == 200
    page = r.json()
    assert set(page) == {"next", "previous", "results"} and len(page["results"]) == 2
    seen = [x["id"] for x in page["results"]]
    while page["next"]:
        page = api.get(page["next"]).json()
        seen += [x["id"] for x in page["results"]]
    assert len(seen) == 6 and len(set(seen)) == 6
    assert seen[-5:] == list(reversed(ids))  # newest first

    confirmed = api.get(url("rewards"), {"status": "confirmed"}).json()["results"]
    assert [x["id"] for x in confirmed] == [ids[0]]
    bobs = api.get(url("rewards"), {"beneficiary": "bob"}).json()["results"]
    assert [x["beneficiary"] for x in bobs] == ["bob"]
    r = api.get(url("rewards"), {"status": "lost"})
    assert r.status_code == 400 and r.json()["code"] == "validation_error"


def test_fraud_threshold_holds_the_reward_until_released(api, url, program):
    program.fraud_amount_threshold = 10_000
    program.save(update_fields=["fraud_amount_threshold"])
    small = create(api, url, key="small", amount=10_000).json()
    big = create(api, url, key="big", amount=10_001).json()
    assert small["hold_reason"] == ""
    assert "threshold" in big["hold_reason"]

    r = step(api, url, big["id"], "confirm")
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    assert "held" in r.json()["detail"]
    r = step(api, url, big["id"], "release", reason="reviewed: genuine")
    assert r.status_code == 200 and r.json()["hold_reason"] == ""
    assert step(api, url, big["id"], "confirm").json()["status"] == "confirmed"
    assert AuditEntry.objects.filter(action="reward.released", reason="reviewed: genuine").exists()


def test_every_step_is_audited(api, url):
    rid = create(api, url).json()["id"]
    step(api, url, rid, "confirm", reason="checked")
    step(api, url, rid, "confirm")  # a no-op writes nothing
    step(api, url, rid, "reverse", reason="refund")
    actions = list(
        AuditEntry.objects.filter(object_type="reward", object_id=str(rid))
        .order_by("id")
        .values_list("action", "before", "reason")
    )
    assert actions == [
        ("reward.created", None, ""),
        ("reward.confirmed", {"status": "pending"}, "checked"),
        ("reward.reversed", {"status": "confirmed"}, "refund"),
    ]


def test_unauthenticated_is_401(url, program):
    from rest_framework.test import APIClient

    r = APIClient().get(url("rewards"))
    assert r.status_code == 401 and r.json()["code"] == "authentication_failed"
