"""Payout methods (SPEC §13): validated per method, encrypted at rest, shown masked everywhere
(API, audit log, admin, portal), set by an operator (API, admin) or the partner (portal)."""

from __future__ import annotations

import pytest
from django.db import connection

from config.platform.exceptions import NotFound, ValidationFailed
from config.platform.models import AuditEntry
from rules.rewards.models import PayoutMethod
from rules.rewards.services.payout_methods import (
    payout_details_normalized,
    payout_method_details,
    payout_method_set,
)
from tests.portal.conftest import signed_in

pytestmark = pytest.mark.django_db(transaction=True)

VALID = [
    ("paypal", {"email": "Carol@Example.com"}, {"email": "c••••@example.com"}),
    ("stripe_connect", {"account": "acct_1PartnerA"}, {"account": "••••••••••nerA"}),
    (
        "bank_transfer",
        {"name": "Carol Jones", "iban": "DE89 3704 0044 0532 0130 00"},
        {"name": "Carol Jones", "iban": "••••••••••••••••••3000"},
    ),
    (
        "bank_transfer",
        {"name": "Carol Jones", "account_number": "123456789012", "ifsc": "hdfc0001234"},
        {"name": "Carol Jones", "account_number": "••••••••9012", "ifsc": "HDFC0001234"},
    ),
    ("upi", {"vpa": "carol@okaxis"}, {"vpa": "c••••@okaxis"}),
    ("manual", {}, {}),
]


@pytest.mark.parametrize(("method", "details", "masked"), VALID)
def test_valid_details_are_stored_encrypted_and_shown_masked(
    program, participant, method, details, masked
):
    participant("carol")
    saved = payout_method_set(
        program=program, beneficiary="carol", method=method, details=details, actor="user:op"
    )
    assert saved.masked == masked
    decrypted = payout_method_details(saved)
    assert decrypted == payout_details_normalized(method, details)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT details_encrypted FROM ledger_payoutmethod WHERE id = %s", [saved.pk]
        )
        stored = cursor.fetchone()[0]
    for value in decrypted.values():
        assert value not in stored
    entry = AuditEntry.objects.get(action="payout_method.set", object_id="carol")
    assert entry.after == {"method": method, "details": masked}
    for value in decrypted.values():
        if value not in masked.values():
            assert value not in str(entry.after)


@pytest.mark.parametrize(
    ("method", "details", "field"),
    [
        ("paypal", {"email": "not-an-email"}, "details.email"),
        ("paypal", {}, "details"),
        ("paypal", {"email": "a@b.co", "iban": "x"}, "details.iban"),
        ("stripe_connect", {"account": "12345"}, "details.account"),
        ("bank_transfer", {"name": "C", "iban": "DE89370400440532013001"}, "details.iban"),
        ("bank_transfer", {"name": "C", "account_number": "12", "ifsc": "HDFC0001234"}, None),
        ("bank_transfer", {"name": "C", "account_number": "123456789", "ifsc": "X1"}, None),
        ("bank_transfer", {"iban": "DE89370400440532013000"}, "details"),
        ("upi", {"vpa": "carol"}, "details.vpa"),
        ("cheque", {}, "method"),
        ("paypal", {"email": 5}, "details.email"),
    ],
)
def test_invalid_details_are_refused(program, participant, method, details, field):
    participant("carol")
    with pytest.raises(ValidationFailed) as refused:
        payout_method_set(
            program=program, beneficiary="carol", method=method, details=details, actor="t"
        )
    if field:
        assert field in {e["field"] for e in refused.value.errors or []}
    assert not PayoutMethod.objects.exists()


def test_unknown_participant_is_not_found(program):
    with pytest.raises(NotFound):
        payout_method_set(
            program=program, beneficiary="ghost", method="manual", details={}, actor="t"
        )


def test_api_put_and_get_show_masked_details(program, participant, api, url):
    participant("carol")
    path = url("participants/carol/payout-method")
    assert api.get(path).status_code == 404  # none yet

    put = api.put(
        path, {"method": "paypal", "details": {"email": "carol@example.com"}}, format="json"
    )
    assert put.status_code == 200, put.content
    assert put.json()["details"] == {"email": "c••••@example.com"}
    assert put.json()["method"] == "paypal" and put.json()["participant"] == "carol"
    got = api.get(path)
    assert got.status_code == 200 and got.json() == put.json()
    assert "carol@example.com" not in got.content.decode()

    bad = api.put(path, {"method": "upi", "details": {"vpa": "nope"}}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "validation_error"
    assert (
        api.put(
            url("participants/ghost/payout-method"), {"method": "manual"}, format="json"
        ).json()["code"]
        == "not_found"
    )


def test_admin_shows_masked_details_and_sets_them(program, participant, staff):
    participant("carol")
    payout_method_set(
        program=program,
        beneficiary="carol",
        method="paypal",
        details={"email": "carol@example.com"},
        actor="t",
    )
    client = staff("olga", "operators")
    page = client.get("/admin/ledger/payoutmethod/").content.decode()
    assert "c••••@example.com" in page and "carol@example.com" not in page
    method = PayoutMethod.objects.get()
    change = client.get(f"/admin/ledger/payoutmethod/{method.pk}/change/").content.decode()
    assert "carol@example.com" not in change

    response = client.post(
        f"/admin/ledger/payoutmethod/{method.pk}/change/",
        {"method": "upi", "vpa": "carol@okaxis"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    method.refresh_from_db()
    assert method.method == "upi" and method.masked == {"vpa": "c••••@okaxis"}
    assert AuditEntry.objects.filter(action="payout_method.set", actor="user:olga").exists()

    refused = client.post(
        f"/admin/ledger/payoutmethod/{method.pk}/change/", {"method": "upi", "vpa": "bad"}
    )
    assert refused.status_code == 200 and "UPI address" in refused.content.decode()


def test_partner_sets_their_method_in_the_portal(program, participant):
    carol = participant("carol", email="carol@example.com")
    client = signed_in(carol)
    page = client.get("/portal/acme/payout-details")
    assert page.status_code == 200 and "choose a method below" in page.content.decode()

    refused = client.post(
        "/portal/acme/payout-details", {"method": "bank_transfer", "bank_transfer-name": "C"}
    )
    assert refused.status_code == 200 and "Not saved" in refused.content.decode()
    assert not PayoutMethod.objects.exists()

    saved = client.post(
        "/portal/acme/payout-details",
        {
            "method": "bank_transfer",
            "bank_transfer-name": "Carol Jones",
            "bank_transfer-account_number": "123456789012",
            "bank_transfer-ifsc": "HDFC0001234",
            "paypal-email": "ignored@example.com",
        },
    )
    assert saved.status_code == 302
    method = PayoutMethod.objects.get(beneficiary="carol")
    assert payout_method_details(method) == {
        "name": "Carol Jones",
        "account_number": "123456789012",
        "ifsc": "HDFC0001234",
    }
    shown = client.get("/portal/acme/payout-details").content.decode()
    assert "••••••••9012" in shown and "123456789012" not in shown
    assert AuditEntry.objects.filter(actor="partner:carol", action="payout_method.set").exists()
