"""Attacks on payout methods and rails (SPEC section 13): who can read decrypted payout
details, settling items twice / on the wrong batch / on a provider rail, one person acting as
two, and raw SQL against the payout item's lifecycle columns."""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError, connection, transaction

from config.platform.exceptions import FourEyesViolation, InvalidTransition, NotFound
from config.platform.models import AuditEntry
from ledger.models import Transaction
from rules.rewards.models import PayoutItem
from rules.rewards.payout_selectors import payout_item_get
from rules.rewards.services import payout_items, payouts
from rules.rewards.services.payout_auto import payout_batch_auto
from tests.payouts.conftest import (  # noqa: F401  (fixtures)
    APPROVER,
    CREATOR,
    approved,
    earned,
    groups,
    notifications,
    participant,
    staff,
    stripe_stub,
)

pytestmark = pytest.mark.django_db

EMAIL = "carol.secret@example.com"
IBAN = "GB82WEST12345698765432"


@pytest.fixture
def payment_file_batch(program, earned, approved):  # noqa: F811
    earned("carol", 5000, method=("paypal", {"email": EMAIL}))
    return approved(["carol"], rail="csv", csv_format="paypal_mass_pay")


def test_an_approver_key_cannot_download_decrypted_details(
    payment_file_batch, approver_api, api, url
):
    """Approvers see payout methods masked (ledger 0013), yet the export of a payment file
    needed only view_payoutbatch and gave them every PayPal email and IBAN in clear."""
    path = url(f"payout-batches/{payment_file_batch.pk}/export.csv")
    for query in ("", "?csv_format=paypal_mass_pay"):
        r = approver_api.get(path + query)
        assert EMAIL not in r.content.decode(), query
        assert r.status_code == 403, (query, r.status_code, r.content)
    generic = approver_api.get(path + "?csv_format=generic")
    assert generic.status_code == 200 and EMAIL not in generic.content.decode()
    # the operator who executes the batch still gets the payment file
    paying = api.get(path + "?csv_format=paypal_mass_pay")
    assert paying.status_code == 200 and EMAIL in paying.content.decode()


def test_an_approver_in_the_console_cannot_download_decrypted_details(
    payment_file_batch,
    staff,  # noqa: F811
):
    approver = staff("ann", "approvers")
    path = f"/admin/ledger/payoutbatch/{payment_file_batch.pk}/export.csv"
    for query in ("", "?csv_format=paypal_mass_pay"):
        r = approver.get(path + query)
        assert EMAIL not in r.content.decode(), query
        assert r.status_code == 403, (query, r.status_code)
    operator = staff("otto", "operators")
    assert EMAIL in operator.get(path).content.decode()


def test_details_are_masked_in_the_audit_log_and_batch_pages(
    program,
    earned,  # noqa: F811
    approved,  # noqa: F811
    staff,  # noqa: F811
):
    earned("dave", 5000, method=("bank_transfer", {"name": "Dave D", "iban": IBAN}))
    batch = approved(["dave"], rail="csv", csv_format="wise_batch")
    payouts.payout_batch_execute(batch=batch, actor="user:otto")
    entries = json.dumps(list(AuditEntry.objects.values("before", "after", "reason")))
    assert IBAN not in entries and IBAN[-4:] in entries
    root = staff("root", superuser=True)
    for path in (
        f"/admin/ledger/payoutbatch/{batch.pk}/change/",
        "/admin/ledger/payoutbatch/",
        "/admin/ledger/payoutitem/",
        "/admin/ledger/payoutmethod/",
        "/admin/config/auditentry/",
    ):
        page = root.get(path)
        assert IBAN not in page.content.decode(), path


def test_items_are_settled_once_on_their_own_batch_and_rail(
    program,
    earned,  # noqa: F811
    approved,  # noqa: F811
):
    earned("carol", 5000)
    earned("erin", 3000, method=("paypal", {"email": "erin@example.com"}))
    csv_batch = approved(["carol"])
    paypal_batch = approved(["erin"], rail="csv", csv_format="paypal_mass_pay")
    for batch in (csv_batch, paypal_batch):
        payouts.payout_batch_execute(batch=batch, actor="user:otto")
    carol = csv_batch.items.get()
    erin = paypal_batch.items.get()
    with pytest.raises(NotFound):
        payout_item_get(batch=paypal_batch, pk=carol.pk)
    # the service itself refuses another batch's item, whoever calls it
    with pytest.raises((NotFound, InvalidTransition)):
        payout_items.payout_item_fail(batch=paypal_batch, item=carol, reason="x", actor="a")
    carol.refresh_from_db()
    assert carol.status == PayoutItem.Status.SENT
    payout_items.payout_item_fail(batch=csv_batch, item=carol, reason="bounced", actor="a")
    payout_items.payout_item_fail(batch=csv_batch, item=carol, reason="again", actor="a")
    with pytest.raises(InvalidTransition):
        payout_items.payout_item_confirm(batch=csv_batch, item=carol, actor="a")
    returns = Transaction.objects.filter(metadata__payout_item=carol.pk, metadata__returned=True)
    assert returns.count() == 1
    payout_items.payout_item_confirm(batch=paypal_batch, item=erin, actor="a")
    payout_items.payout_item_confirm(batch=paypal_batch, item=erin, actor="a")
    assert PayoutItem.objects.get(pk=erin.pk).status == PayoutItem.Status.PAID


def test_one_person_cannot_prepare_and_approve_an_automatic_batch(
    program,
    earned,  # noqa: F811
):
    earned("carol", 5000, method=("upi", {"vpa": "carol@okbank"}))
    batch, _ = payout_batch_auto(program=program, actor=CREATOR)
    assert batch is not None and batch.items.count() == 1
    payouts.payout_batch_submit(batch=batch, actor=CREATOR)
    with pytest.raises(FourEyesViolation):
        payouts.payout_batch_approve(batch=batch, actor=CREATOR)
    payouts.payout_batch_approve(batch=batch, actor=APPROVER)


def _raw(statement: str, params: list) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_payoutitem SET status = 'sent' WHERE id = %s",
        "UPDATE ledger_payoutitem SET status = 'paid' WHERE id = %s",
        "UPDATE ledger_payoutitem SET return_transaction_id = NULL WHERE id = %s",
    ],
)
def test_raw_sql_cannot_undo_a_returned_item(
    program,
    earned,  # noqa: F811
    approved,  # noqa: F811
    statement,
):
    """A failed item's money is back in the partner's balance; marking it sent or paid again
    (or forgetting its return) would let it be failed (returned) twice, or show money paid
    that was returned."""
    earned("carol", 5000)
    batch = approved(["carol"])
    payouts.payout_batch_execute(batch=batch, actor="user:otto")
    item = batch.items.get()
    payout_items.payout_item_fail(batch=batch, item=item, reason="bounced", actor="a")
    with pytest.raises(DatabaseError):
        _raw(statement, [item.pk])


ACCOUNT = "acct_1SecretPartnerAcct"


@pytest.fixture
def usd(db):
    from rules.rewards.services.programs import program_create

    return program_create(slug="usd", name="USD shop", currency="USD")[0]


def test_a_provider_error_echoing_the_account_is_stored_masked(
    usd,
    earned,  # noqa: F811
    approved,  # noqa: F811
    stripe_stub,  # noqa: F811
    notifications,  # noqa: F811
):
    """Stripe answers an unknown destination with "No such destination: 'acct_…'": the full
    account id went into the item's failure_reason, the audit entry and the partner's
    payout-failed notification, while the payout method shows it masked everywhere."""
    earned("dave", 900, ("stripe_connect", {"account": ACCOUNT}), prog=usd)
    batch = approved(["dave"], rail="stripe_connect", prog=usd)
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    item = PayoutItem.objects.get(batch=batch)
    assert item.status == PayoutItem.Status.FAILED and "destination" in item.failure_reason
    assert ACCOUNT not in item.failure_reason and ACCOUNT[-4:] in item.failure_reason
    entries = json.dumps(list(AuditEntry.objects.values("before", "after", "reason")))
    assert ACCOUNT not in entries
    assert ACCOUNT not in json.dumps([data for _kind, _who, data in notifications], default=str)


def test_a_payout_method_changed_after_approval_is_not_paid(
    usd,
    earned,  # noqa: F811
    approved,  # noqa: F811
    stripe_stub,  # noqa: F811
):
    """The approver approves "carol: 25.00"; the destination was read at execution. An
    operator who may set payout methods and execute batches pointed carol's method at their
    own account after the approval and executed: the second person never saw where the money
    went."""
    from rules.rewards.services.payout_methods import payout_method_set

    stripe_stub.accounts.add("acct_1Operator")
    earned("carol", 2500, ("stripe_connect", {"account": "acct_1PartnerA"}), prog=usd)
    batch = approved(["carol"], rail="stripe_connect", prog=usd)
    payout_method_set(
        program=usd,
        beneficiary="carol",
        method="stripe_connect",
        details={"account": "acct_1Operator"},
        actor="user:mallory",
    )
    with pytest.raises(InvalidTransition):
        payouts.payout_batch_execute(batch=batch, actor="user:mallory")
    assert not [c for c in stripe_stub.calls("POST", "/v1/transfers")]


def test_a_payment_file_is_not_made_after_a_method_changed(
    program,
    earned,  # noqa: F811
    approved,  # noqa: F811
):
    from rules.rewards.services.payout_methods import payout_method_set

    earned("carol", 5000, method=("paypal", {"email": EMAIL}))
    batch = approved(["carol"], rail="csv", csv_format="paypal_mass_pay")
    payout_method_set(
        program=program,
        beneficiary="carol",
        method="paypal",
        details={"email": "mallory@example.com"},
        actor="user:mallory",
    )
    with pytest.raises(InvalidTransition):
        payouts.payout_batch_csv(batch=batch)
    assert "carol" in payouts.payout_batch_csv(batch=batch, csv_format="generic")


def test_a_method_changed_before_a_redispatch_is_returned_not_paid(
    usd,
    earned,  # noqa: F811
    approved,  # noqa: F811
    stripe_stub,  # noqa: F811
    settings,
):
    from rules.rewards.services.payout_methods import payout_method_set

    stripe_stub.accounts.add("acct_1Operator")
    earned("carol", 2500, ("stripe_connect", {"account": "acct_1PartnerA"}), prog=usd)
    batch = approved(["carol"], rail="stripe_connect", prog=usd)
    key, settings.STRIPE_SECRET_KEY = settings.STRIPE_SECRET_KEY, ""  # Stripe unreachable
    payouts.payout_batch_execute(batch=batch, actor="user:mallory")
    assert batch.items.get().status == PayoutItem.Status.SENT
    payout_method_set(
        program=usd,
        beneficiary="carol",
        method="stripe_connect",
        details={"account": "acct_1Operator"},
        actor="user:mallory",
    )
    settings.STRIPE_SECRET_KEY = key
    payout_items.payout_batches_redispatch()
    assert not stripe_stub.calls("POST", "/v1/transfers")
    item = batch.items.get()
    assert item.status == PayoutItem.Status.FAILED and item.return_transaction_id
