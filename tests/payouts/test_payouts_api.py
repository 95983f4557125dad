"""Payouts over HTTP (SPEC §13): batches with a rail, sent/paid/failed amounts, confirm and
fail, the automatic draft and who it skipped, the CSV payment files, unknown beneficiaries,
the payout schedule."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from rules.rewards.models import PayoutBatch
from rules.rewards.services import payouts
from rules.rewards.services.payout_auto import SCHEDULE_ACTOR, payout_schedule_run
from rules.rewards.services.program_settings import program_update
from tests.payouts.conftest import CREATOR

pytestmark = pytest.mark.django_db(transaction=True)

PAYPAL = ("paypal", {"email": "carol@example.com"})
BANK = ("bank_transfer", {"name": "Dave Roe", "iban": "DE89370400440532013000"})


def _approve(approver_api, url, batch_id: int) -> None:
    response = approver_api.post(url(f"payout-batches/{batch_id}/approve"))
    assert response.status_code == 200, response.content


def test_csv_batch_through_the_api(program, earned, api, approver_api, url):
    earned("carol", 1500, PAYPAL)
    earned("dave", 700, BANK)
    created = api.post(
        url("payout-batches"), {"rail": "csv", "csv_format": "generic"}, format="json"
    )
    assert created.status_code == 201 and created.json()["rail"] == "csv"
    bid = created.json()["id"]
    for who in ("carol", "dave"):
        assert (
            api.post(
                url(f"payout-batches/{bid}/items"), {"beneficiary": who}, format="json"
            ).status_code
            == 201
        )
    assert api.post(url(f"payout-batches/{bid}/submit")).status_code == 200
    _approve(approver_api, url, bid)
    executed = api.post(url(f"payout-batches/{bid}/execute")).json()
    assert executed["amounts"] == {"pending": 0, "sent": 2200, "paid": 0, "failed": 0}
    items = {i["beneficiary"]: i for i in executed["items"]}
    assert {i["status"] for i in items.values()} == {"sent"}

    paid = api.post(url(f"payout-batches/{bid}/items/{items['carol']['id']}/confirm"))
    assert paid.status_code == 200 and paid.json()["amounts"]["paid"] == 1500
    no_reason = api.post(
        url(f"payout-batches/{bid}/items/{items['dave']['id']}/fail"), {}, format="json"
    )
    assert no_reason.status_code == 400
    failed = api.post(
        url(f"payout-batches/{bid}/items/{items['dave']['id']}/fail"),
        {"reason": "IBAN closed"},
        format="json",
    )
    body = failed.json()
    assert body["amounts"] == {"pending": 0, "sent": 0, "paid": 1500, "failed": 700}
    dave = next(i for i in body["items"] if i["beneficiary"] == "dave")
    assert dave["failure_reason"] == "IBAN closed" and dave["return_transaction"]
    balance = api.get(url("users/dave/balance")).json()
    assert balance["available"] == 700 and balance["paid"] == 0
    wrong_item = api.post(url(f"payout-batches/{bid}/items/999999/confirm"))
    assert wrong_item.status_code == 404
    again = api.post(url(f"payout-batches/{bid}/items/{items['dave']['id']}/confirm"))
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"


def test_unknown_beneficiary_is_no_such_participant(program, api, url):
    bid = api.post(url("payout-batches"), {}, format="json").json()["id"]
    response = api.post(url(f"payout-batches/{bid}/items"), {"beneficiary": "ghost"}, format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert "no such participant" in response.json()["detail"].lower()


def test_known_beneficiary_with_nothing_is_insufficient_funds(program, participant, api, url):
    participant("erin")
    bid = api.post(url("payout-batches"), {}, format="json").json()["id"]
    response = api.post(url(f"payout-batches/{bid}/items"), {"beneficiary": "erin"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "insufficient_funds"


def test_auto_batch_adds_the_payable_and_lists_the_skipped(program, earned, api, url):
    program_update(program=program, changes={"min_payout": 1000}, actor="test")
    earned("carol", 1500, PAYPAL)  # payable
    earned("dave", 1200)  # no payout method
    earned("erin", 400, PAYPAL)  # below the minimum
    earned("fred", 2000, BANK)  # payable on csv; not on the paypal rail

    response = api.post(url("payout-batches/auto"), {}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft" and body["created_by"] == "user:api-acme"
    assert {(i["beneficiary"], i["amount"]) for i in body["items"]} == {
        ("carol", 1500),
        ("fred", 2000),
    }
    assert {s["beneficiary"]: s["reason"] for s in body["skipped"]} == {
        "dave": "no_payout_method",
        "erin": "below_min_payout",
    }

    on_paypal = api.post(url("payout-batches/auto"), {"rail": "paypal"}, format="json").json()
    # A draft promises nothing (execution re-checks balances): carol is payable here too.
    assert [i["beneficiary"] for i in on_paypal["items"]] == ["carol"]
    reasons = {s["beneficiary"]: s["reason"] for s in on_paypal["skipped"]}
    assert reasons["fred"] == "method_not_on_rail"


def test_payment_files_carry_the_real_details_the_generic_file_none(
    program, earned, approved, api, url
):
    earned("carol", 1500, PAYPAL)
    batch = approved(["carol"], rail="csv", csv_format="paypal_mass_pay")
    body = api.get(url(f"payout-batches/{batch.pk}/export.csv")).content.decode()
    row = next(csv.reader(io.StringIO(body)))
    item = batch.items.get()
    assert row == ["carol@example.com", "15.00", "INR", f"payout-item-{item.pk}", row[4], "PAYPAL"]
    generic = api.get(url(f"payout-batches/{batch.pk}/export.csv?csv_format=generic")).content
    assert b"carol@example.com" not in generic and b"carol" in generic
    wise = api.get(url(f"payout-batches/{batch.pk}/export.csv?csv_format=wise_batch"))
    assert wise.status_code == 400  # carol is paid by PayPal, not a bank transfer


def test_wise_batch_file(program, earned, approved):
    earned("dave", 700, BANK)
    batch = approved(["dave"], rail="csv", csv_format="wise_batch")
    rows = list(csv.DictReader(io.StringIO(payouts.payout_batch_csv(batch=batch))))
    assert rows[0]["IBAN"] == "DE89370400440532013000" and rows[0]["name"] == "Dave Roe"
    assert rows[0]["amount"] == "7.00" and rows[0]["targetCurrency"] == "INR"


def test_program_settings_take_the_payout_schedule(program, admin_client, url):
    def patch(body):
        return admin_client.patch(url(""), body, content_type="application/json")

    response = patch({"payout_schedule": "monthly", "payout_delay_days": 5})
    assert response.status_code == 200, response.content
    assert response.json()["payout_schedule"] == "monthly"
    assert response.json()["payout_delay_days"] == 5
    bad = patch({"payout_delay_days": 40})
    assert bad.status_code == 400


def test_the_schedule_drafts_once_a_month_after_the_delay(program, earned, approver_api, url):
    program_update(
        program=program,
        changes={"payout_schedule": "monthly", "payout_delay_days": 3},
        actor="test",
    )
    earned("carol", 1500, PAYPAL)
    assert payout_schedule_run(now=datetime(2026, 12, 3, tzinfo=UTC)) == []  # day 3: not yet
    made = payout_schedule_run(now=datetime(2026, 12, 4, tzinfo=UTC))
    assert len(made) == 1
    batch = made[0]
    assert batch.status == "draft" and batch.created_by == SCHEDULE_ACTOR
    assert str(batch.scheduled_for) == "2026-12-01"
    assert [(i.beneficiary, i.amount) for i in batch.items.all()] == [("carol", 1500)]
    assert payout_schedule_run(now=datetime(2026, 12, 20, tzinfo=UTC)) == []  # once a month
    assert PayoutBatch.objects.filter(program=program).count() == 1
    # A person submits it and a second person approves it, as ever.
    payouts.payout_batch_submit(batch=batch, actor=CREATOR)
    _approve(approver_api, url, batch.pk)


def test_the_schedule_drafts_nothing_when_nobody_can_be_paid(program, earned):
    program_update(program=program, changes={"payout_schedule": "monthly"}, actor="test")
    earned("dave", 1200)  # no payout method
    assert payout_schedule_run(now=datetime(2026, 12, 1, tzinfo=UTC)) == []
    assert not PayoutBatch.objects.exists()
