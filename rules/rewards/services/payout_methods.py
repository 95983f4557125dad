"""Where participants are paid (SPEC §13): one payout method per participant and program, set
by the partner in the portal or by an operator (admin, API), audited like every change.

The details are validated per method, encrypted at rest (config/platform/crypto.py) and stored
beside their masked form, which is all that the API, the admin, the exports and the audit log
ever show. Only a rail that pays (`payout_method_details`) decrypts them.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.crypto import json_decrypt, json_encrypt, mask, mask_email
from config.platform.exceptions import NotFound, ValidationFailed
from config.platform.models import Program
from rules.rewards.models import PayoutMethod
from rules.rewards.participants import participant_pk

Method = PayoutMethod.Method

STRIPE_ACCOUNT_RE = re.compile(r"^acct_[A-Za-z0-9]{1,64}$")
IFSC_RE = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$")
ACCOUNT_NUMBER_RE = re.compile(r"^[0-9]{6,20}$")
IBAN_RE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
VPA_RE = re.compile(r"^[A-Za-z0-9_.\-]{2,256}@[A-Za-z][A-Za-z0-9.\-]{1,63}$")
NAME_MAX = 140

# method -> (required field sets, one of which must be given exactly; optional fields)
SHAPES: dict[str, tuple[list[frozenset[str]], frozenset[str]]] = {
    Method.PAYPAL: ([frozenset({"email"})], frozenset()),
    Method.STRIPE_CONNECT: ([frozenset({"account"})], frozenset()),
    Method.BANK_TRANSFER: (
        [frozenset({"name", "iban"}), frozenset({"name", "account_number", "ifsc"})],
        frozenset({"bic"}),
    ),
    Method.UPI: ([frozenset({"vpa"})], frozenset()),
    Method.MANUAL: ([frozenset()], frozenset({"note"})),
}


def _iban_ok(iban: str) -> bool:
    if not IBAN_RE.fullmatch(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def _field_errors(method: str, details: dict[str, Any]) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []

    def bad(field: str, message: str) -> None:
        errors.append({"field": f"details.{field}", "message": message})

    for field, value in details.items():
        if not isinstance(value, str) or not value.strip():
            bad(field, "a non-empty string")
    if errors:
        return errors
    if "email" in details:
        try:
            validate_email(details["email"])
        except DjangoValidationError:
            bad("email", "not an email address")
    if "account" in details and not STRIPE_ACCOUNT_RE.fullmatch(details["account"]):
        bad("account", "a Stripe connected account id (acct_…)")
    if "name" in details and len(details["name"]) > NAME_MAX:
        bad("name", f"at most {NAME_MAX} characters")
    if "iban" in details and not _iban_ok(details["iban"]):
        bad("iban", "not a valid IBAN (check digits)")
    if "account_number" in details and not ACCOUNT_NUMBER_RE.fullmatch(details["account_number"]):
        bad("account_number", "6-20 digits")
    if "ifsc" in details and not IFSC_RE.fullmatch(details["ifsc"]):
        bad("ifsc", "an IFSC code: 4 letters, 0, 6 letters or digits")
    if "bic" in details and not re.fullmatch(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?", details["bic"]):
        bad("bic", "a BIC (8 or 11 characters)")
    if "vpa" in details and not VPA_RE.fullmatch(details["vpa"]):
        bad("vpa", "a UPI address (name@bank)")
    if "note" in details and len(details["note"]) > 500:
        bad("note", "at most 500 characters")
    return errors


def payout_details_normalized(method: Any, details: Any) -> dict[str, str]:
    """The details, trimmed and in canonical case, or ValidationFailed naming every problem."""
    if method not in SHAPES:
        raise ValidationFailed(
            f"method: one of {', '.join(SHAPES)}.",
            errors=[{"field": "method", "message": f"one of {', '.join(SHAPES)}"}],
        )
    if details is None:
        details = {}
    if not isinstance(details, dict):
        raise ValidationFailed(
            "details: an object.", errors=[{"field": "details", "message": "an object"}]
        )
    cleaned = {k: v.strip() if isinstance(v, str) else v for k, v in details.items()}
    for field in ("iban", "ifsc", "bic"):
        if isinstance(cleaned.get(field), str):
            cleaned[field] = cleaned[field].replace(" ", "").upper()
    for field in ("email", "vpa"):
        if isinstance(cleaned.get(field), str):
            cleaned[field] = cleaned[field].lower()
    shapes, optional = SHAPES[method]
    given = frozenset(cleaned)
    shape = next((s for s in shapes if s <= given and given - s <= optional), None)
    if shape is None:
        wanted = " or ".join("{" + ", ".join(sorted(s)) + "}" for s in shapes)
        unknown = sorted(given - frozenset().union(*shapes) - optional)
        errors = [{"field": f"details.{f}", "message": "unknown field"} for f in unknown]
        errors.append({"field": "details", "message": f"{method} needs {wanted}"})
        raise ValidationFailed(f"details: {method} needs {wanted}.", errors=errors)
    errors = _field_errors(method, cleaned)
    if errors:
        raise ValidationFailed("Invalid payout details.", errors=errors)
    return cleaned


def payout_details_masked(method: str, details: dict[str, str]) -> dict[str, str]:
    """What anyone but the paying rail sees."""
    masked: dict[str, str] = {}
    for field, value in details.items():
        if field in ("email", "vpa"):
            masked[field] = mask_email(value)
        elif field in ("account", "iban", "account_number"):
            masked[field] = mask(value)
        else:  # name, ifsc, bic, note: not secrets, and the partner needs to recognise them
            masked[field] = value
    return masked


def _require_participant(program: Program, beneficiary: str) -> None:
    if participant_pk(program_id=program.pk, external_id=beneficiary) is None:
        raise NotFound(f"No participant {beneficiary}.")


def payout_method_validate(
    *, program: Program, beneficiary: str, method: Any, details: Any
) -> dict[str, str]:
    """What payout_method_set checks, without saving: the participant exists (404) and the
    details fit the method (400). Returns the normalised details."""
    _require_participant(program, beneficiary)
    return payout_details_normalized(method, details)


def payout_method_set(
    *, program: Program, beneficiary: str, method: Any, details: Any, actor: str
) -> PayoutMethod:
    """Set (or replace) the participant's payout method. 404 for an unknown participant."""
    cleaned = payout_method_validate(
        program=program, beneficiary=beneficiary, method=method, details=details
    )
    masked = payout_details_masked(method, cleaned)
    with transaction.atomic():
        current = (
            PayoutMethod.objects.select_for_update()
            .filter(program=program, beneficiary=beneficiary)
            .first()
        )
        before = None if current is None else {"method": current.method, "details": current.masked}
        now = timezone.now()
        if current is None:
            current = PayoutMethod(program=program, beneficiary=beneficiary, created_at=now)
        current.method = method
        current.details_encrypted = json_encrypt(cleaned)
        current.masked = masked
        current.updated_by = actor
        current.updated_at = now
        current.save()
        audit_record(
            program=program,
            actor=actor,
            action="payout_method.set",
            object_type="participant",
            object_id=beneficiary,
            before=before,
            after={"method": method, "details": masked},
        )
    return current


def payout_method_details(payout_method: PayoutMethod) -> dict[str, Any]:
    """The decrypted details, for the rail that pays (never rendered anywhere else)."""
    if not payout_method.details_encrypted:
        return {}
    return json_decrypt(payout_method.details_encrypted)
