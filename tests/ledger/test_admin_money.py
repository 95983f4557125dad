"""Operators cannot slip by a factor of 100 (issue 11, item 8): every money input in the console
is typed in major units with the currency and stored as exact minor units (MoneyField), every
money display reads "1,500.00 INR" (one formatter), and approve, execute, reject and publish ask
once more on a page that says what will move."""

from __future__ import annotations

import pytest
from django import forms
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from config.platform.admin.common import MoneyField, money, parse_major
from config.platform.models import AuditEntry, Program
from ledger.models import Transaction
from rules.rewards.models import PayoutBatch, PayoutItem, Reward
from rules.rewards.services import payouts
from rules.rewards.services.programs import program_create
from rules.rewards.services.rewards import reward_confirm, reward_create
from tests.ledger.operator_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(staff):
    return staff("alice", "operators")


@pytest.fixture
def bob(staff):
    return staff("bob", "approvers")


@pytest.fixture
def root(staff):
    return staff("root", superuser=True)


def _program(slug: str, currency: str) -> Program:
    return program_create(slug=slug, name=slug.title(), currency=currency)[0]


def _confirmed(program: Program, beneficiary: str, amount: int) -> Reward:
    reward, _ = reward_create(
        program=program,
        beneficiary=beneficiary,
        amount=amount,
        currency=program.currency,
        reward_type="cash",
        source_key=f"money:{program.slug}:{beneficiary}:{amount}",
        actor="test",
    )
    return reward_confirm(reward=reward, actor="test")


def _batch(client, program: Program) -> PayoutBatch:
    r = client.post(reverse("admin:ledger_payoutbatch_add"), {"program": program.pk})
    assert r.status_code == 302
    return PayoutBatch.objects.latest("pk")


def _step(client, batch: PayoutBatch, step: str, **data):
    return client.post(reverse("admin:ledger_payoutbatch_step", args=[batch.pk, step]), data)


def _messages(response) -> str:
    return " | ".join(str(m.message) for m in response.wsgi_request._messages)


# --- one formatter, one parser ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (150000, "INR", "1,500.00 INR"),
        (5, "INR", "0.05 INR"),
        (1500, "JPY", "1,500 JPY"),
        (1500, "KWD", "1.500 KWD"),
        (123456789012345678, "USD", "1,234,567,890,123,456.78 USD"),
    ],
)
def test_money_is_major_units_with_the_currency(minor, currency, shown):
    assert money(minor, currency) == shown


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("1500", "INR", 150000),
        ("1,500.00", "INR", 150000),
        ("1,500.00 INR", "INR", 150000),
        (" 1500.5 ", "INR", 150050),
        ("0.01", "INR", 1),
        ("15.000", "INR", 1500),  # trailing zeros are exact
        ("1,500", "JPY", 1500),
        ("1.5", "KWD", 1500),
        ("1.250", "KWD", 1250),
        ("1234567890123.45", "USD", 123456789012345),  # 15 digits, exact (no float)
    ],
)
def test_major_units_parse_to_exact_minor_units(typed, currency, minor):
    assert parse_major(typed, currency) == minor


@pytest.mark.parametrize(
    ("typed", "currency"),
    [
        ("15.005", "INR"),  # more decimals than INR has: never rounded
        ("1.5", "JPY"),
        ("1.2345", "KWD"),
        ("1e3", "INR"),
        ("-5", "INR"),
        ("1,50", "INR"),
        ("1,5000", "INR"),
        ("NaN", "INR"),
        ("Infinity", "INR"),
        ("\u0661\u0665\u0660\u0660", "INR"),  # Arabic-Indic digits
        ("1 500", "INR"),
        ("99999999999999999.99", "INR"),  # above the bigint the ledger stores
        ("10,000,000,000,000.01", "INR"),  # above the money limit (10^15 minor units)
        ("12 USD", "INR"),
    ],
)
def test_inexact_or_malformed_amounts_are_refused(typed, currency):
    with pytest.raises(ValueError):
        parse_major(typed, currency)


def test_money_field_stores_minor_units_and_shows_major_units():
    field = MoneyField(currency="INR")
    assert field.clean("1,500.00") == 150000
    assert field.prepare_value(150000) == "1,500.00"
    with pytest.raises(forms.ValidationError, match="INR has 2 decimal places"):
        field.clean("15.005")
    with pytest.raises(forms.ValidationError, match="above zero"):
        field.clean("0")


# --- payout items -------------------------------------------------------------------------------


def test_payout_item_amount_is_typed_in_major_units(alice, program):
    _confirmed(program, "carol", 200000)
    batch = _batch(alice, program)
    page = alice.get(reverse("admin:ledger_payoutbatch_change", args=[batch.pk])).content.decode()
    assert "Amount (INR)" in page and "minor units" not in page

    r = _step(alice, batch, "add_item", beneficiary="carol", amount="1,500.00")
    assert PayoutItem.objects.get(batch=batch).amount == 150000
    assert f"Added carol to payout batch #{batch.pk}: 1,500.00 INR." in _messages(r)
    page = alice.get(reverse("admin:ledger_payoutbatch_change", args=[batch.pk])).content.decode()
    assert "1,500.00 INR in 1 item" in page


def test_an_amount_with_too_many_decimals_adds_nothing(alice, program):
    _confirmed(program, "carol", 200000)
    batch = _batch(alice, program)
    r = _step(alice, batch, "add_item", beneficiary="carol", amount="15.005")
    assert "INR has 2 decimal places" in _messages(r)
    assert not PayoutItem.objects.exists()


def test_refusals_name_the_balance_in_major_units(alice, program):
    _confirmed(program, "carol", 100)
    batch = _batch(alice, program)
    r = _step(alice, batch, "add_item", beneficiary="carol", amount="100")  # 100.00 INR
    assert "carol has 1.00 INR available" in _messages(r)
    assert not PayoutItem.objects.exists()


@pytest.mark.parametrize(
    ("currency", "typed", "minor", "shown"),
    [("JPY", "1,500", 1500, "1,500 JPY"), ("KWD", "1.25", 1250, "1.250 KWD")],
)
def test_currencies_with_zero_or_three_decimals(alice, currency, typed, minor, shown):
    program = _program(f"p{currency.lower()}", currency)
    _confirmed(program, "carol", 100000)
    batch = _batch(alice, program)
    r = _step(alice, batch, "add_item", beneficiary="carol", amount=typed)
    assert PayoutItem.objects.get(batch=batch).amount == minor
    assert f"Added carol to payout batch #{batch.pk}: {shown}." in _messages(r)


def test_a_yen_amount_with_decimals_is_refused(alice):
    program = _program("pjpy", "JPY")
    _confirmed(program, "carol", 100000)
    batch = _batch(alice, program)
    r = _step(alice, batch, "add_item", beneficiary="carol", amount="1.5")
    assert "JPY has 0 decimal places" in _messages(r)
    assert not PayoutItem.objects.exists()


# --- program settings ---------------------------------------------------------------------------


def test_minimum_payout_and_fraud_threshold_in_major_units(root, program):
    url = reverse("admin:ledger_program_change", args=[program.pk])
    data = {
        "name": program.name,
        "direct_rate_bps": program.direct_rate_bps,
        "override_rate_bps": program.override_rate_bps,
        "hold_days": program.hold_days,
        "min_payout": "500",
        "fraud_amount_threshold": "1,000.50",
    }
    assert root.post(url, data).status_code == 302
    program.refresh_from_db()
    assert (program.min_payout, program.fraud_amount_threshold) == (50000, 100050)

    page = root.get(url).content.decode()
    assert "Minimum payout (INR)" in page and 'value="500.00"' in page
    assert 'value="1,000.50"' in page and "Now: 1,000.50 INR." in page
    listing = root.get(reverse("admin:ledger_program_changelist")).content.decode()
    assert "500.00 INR" in listing and "1,000.50 INR" in listing

    # Re-saving what the page shows changes nothing (no factor of 100 either way).
    assert root.post(url, {**data, "min_payout": "500.00"}).status_code == 302
    program.refresh_from_db()
    assert program.min_payout == 50000


def test_program_amount_with_too_many_decimals_changes_nothing(root, program):
    url = reverse("admin:ledger_program_change", args=[program.pk])
    r = root.post(
        url,
        {
            "name": program.name,
            "direct_rate_bps": 1000,
            "override_rate_bps": 200,
            "hold_days": 0,
            "min_payout": "10.005",
            "fraud_amount_threshold": "",
        },
    )
    assert r.status_code == 200 and "INR has 2 decimal places" in r.content.decode()
    program.refresh_from_db()
    assert program.min_payout == 0
    assert not AuditEntry.objects.filter(action="program.updated").exists()


def test_a_new_programs_amounts_use_its_currency(root):
    r = root.post(
        reverse("admin:ledger_program_add"),
        {
            "slug": "yen",
            "currency": "JPY",
            "operation_set": "core",
            "name": "Yen",
            "direct_rate_bps": 1000,
            "override_rate_bps": 200,
            "hold_days": 0,
            "min_payout": "500",
            "fraud_amount_threshold": "10,000",
        },
    )
    assert r.status_code == 302
    yen = Program.objects.get(slug="yen")
    assert (yen.min_payout, yen.fraud_amount_threshold) == (500, 10000)


# --- confirmations ------------------------------------------------------------------------------


@pytest.fixture
def pending_batch(alice, program):
    _confirmed(program, "carol", 150000)
    _confirmed(program, "dave", 300000)
    batch = _batch(alice, program)
    _step(alice, batch, "add_item", beneficiary="carol", amount="")
    _step(alice, batch, "add_item", beneficiary="dave", amount="3,000.00")
    _step(alice, batch, "submit")
    batch.refresh_from_db()
    assert batch.status == "pending_approval"
    return batch


def test_approve_asks_first_and_says_what_will_move(bob, pending_batch):
    batch = pending_batch
    for response in (
        bob.get(reverse("admin:ledger_payoutbatch_step", args=[batch.pk, "approve"])),
        _step(bob, batch, "approve"),  # the detail page's button, not yet confirmed
    ):
        html = response.content.decode()
        assert response.status_code == 200
        assert f"Approve batch #{batch.pk}: 2 items, 4,500.00 INR to 2 partners" in html
        assert "1,500.00 INR" in html and "3,000.00 INR" in html
        assert 'name="confirmed" value="yes"' in html
    batch.refresh_from_db()
    assert batch.status == "pending_approval"

    _step(bob, batch, "approve", confirmed="yes")
    batch.refresh_from_db()
    assert (batch.status, batch.approved_by) == ("approved", "user:bob")


def test_execute_asks_first_and_moves_nothing_until_confirmed(alice, bob, pending_batch):
    batch = pending_batch
    _step(bob, batch, "approve", confirmed="yes")
    transactions = Transaction.objects.count()
    html = _step(alice, batch, "execute").content.decode()
    assert f"Execute batch #{batch.pk}: 2 items, 4,500.00 INR to 2 partners" in html
    assert "Executing moves 4,500.00 INR now" in html
    batch.refresh_from_db()
    assert batch.status == "approved" and Transaction.objects.count() == transactions

    r = _step(alice, batch, "execute", confirmed="yes")
    batch.refresh_from_db()
    assert batch.status == "executed"
    assert f"Payout batch #{batch.pk} (2 items, 4,500.00 INR to 2 partners)" in _messages(r)


def test_reject_asks_first_and_keeps_the_reason(bob, pending_batch):
    batch = pending_batch
    html = _step(bob, batch, "reject", reason="wrong amounts").content.decode()
    assert f"Reject batch #{batch.pk}: 2 items, 4,500.00 INR to 2 partners" in html
    assert "wrong amounts" in html  # carried to the confirmation page
    batch.refresh_from_db()
    assert batch.status == "pending_approval"
    _step(bob, batch, "reject", reason="wrong amounts", confirmed="yes")
    batch.refresh_from_db()
    assert (batch.status, batch.rejection_reason) == ("rejected", "wrong amounts")


def test_confirmation_pages_still_check_permissions(alice, pending_batch):
    # alice created the batch: she never even sees the approval page.
    r = alice.get(reverse("admin:ledger_payoutbatch_step", args=[pending_batch.pk, "approve"]))
    assert r.status_code == 302
    pending_batch.refresh_from_db()
    assert pending_batch.status == "pending_approval"


# --- breadcrumbs and audit details --------------------------------------------------------------


def test_breadcrumbs_show_major_units(alice, program):
    reward = _confirmed(program, "carol", 123456)
    html = alice.get(reverse("admin:ledger_reward_change", args=[reward.pk])).content.decode()
    crumbs = html.split('class="breadcrumbs"')[1].split("</ol>")[0]
    assert f"Reward {reward.pk}: carol, 1,234.56 INR (confirmed)" in crumbs
    assert "123456" not in crumbs

    batch = _batch(alice, program)
    _step(alice, batch, "add_item", beneficiary="carol", amount="")
    html = alice.get(reverse("admin:ledger_payoutbatch_change", args=[batch.pk])).content.decode()
    crumbs = html.split('class="breadcrumbs"')[1].split("</ol>")[0]
    assert f"Payout batch #{batch.pk}: 1,234.56 INR (draft)" in crumbs


def test_audit_details_show_major_units(root, alice, program):
    _confirmed(program, "carol", 150000)
    batch = _batch(alice, program)
    _step(alice, batch, "add_item", beneficiary="carol", amount="1,500")
    payouts.payout_batch_submit(batch=batch, actor="user:alice")
    url = reverse("admin:ledger_program_change", args=[program.pk])
    root.post(
        url,
        {
            "name": program.name,
            "direct_rate_bps": 1000,
            "override_rate_bps": 200,
            "hold_days": 0,
            "min_payout": "5",
            "fraud_amount_threshold": "2,000",
        },
    )

    def details(action: str) -> str:
        entry = AuditEntry.objects.filter(action=action).latest("pk")
        page = root.get(reverse("admin:ledger_auditentry_change", args=[entry.pk]))
        return page.content.decode()

    assert "1,500.00 INR" in details("payout_batch.item_added")
    assert "1,500.00 INR" in details("payout_batch.submitted")  # the batch's total
    html = details("program.updated")
    assert "5.00 INR" in html and "2,000.00 INR" in html
    # The stored entry keeps minor units, as the API returns them (SPEC §1).
    entry = AuditEntry.objects.filter(action="program.updated").latest("pk")
    assert entry.after == {"min_payout": 500, "fraud_amount_threshold": 200000}


def test_refused_actions_name_the_reward_in_major_units(alice, program):
    reward = _confirmed(program, "carol", 1500)
    r = alice.post(
        reverse("admin:ledger_reward_changelist"),
        {
            "action": "clawback",  # a confirmed reward cannot be clawed back
            ACTION_CHECKBOX_NAME: [str(reward.pk)],
            "confirmed": "yes",
            "reason": "refund",
        },
    )
    text = _messages(r)
    assert f"Reward {reward.pk}: carol, 15.00 INR (confirmed):" in text
    assert "1500" not in text
