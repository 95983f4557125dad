"""Coupon codes assigned to participants (SPEC section 11, attribution)."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

from config.platform.audit import audit_record
from config.platform.exceptions import AlreadyExists, ValidationFailed
from config.platform.models import Program
from rules.links.models import COUPON_PATTERN, Coupon
from rules.models import Participant

_CODE = re.compile(COUPON_PATTERN.replace("^", r"\A").replace("$", r"\Z"))


def coupon_code_taken(program: Program, code: str) -> bool:
    """Whether `code` (upper-case) is a coupon or a referral code in the program."""
    return (
        Coupon.objects.filter(program=program, code=code).exists()
        or Participant.objects.filter(program=program, referral_code=code).exists()
    )


def coupon_create(*, participant: Participant, code: object, actor: str) -> Coupon:
    """Assign a coupon code to the participant. Codes are case-insensitive (stored
    upper-case) and unique in the program, referral codes included: 409 `already_exists`."""
    if not isinstance(code, str) or not _CODE.match(code.strip()):
        raise ValidationFailed(
            "A coupon code is 1-40 letters, digits, '-' and '_'.",
            errors=[{"field": "code", "message": f"must match {COUPON_PATTERN}"}],
        )
    code = code.strip().upper()
    program = participant.program
    taken = AlreadyExists(
        f"The coupon code {code!r} is already used in this program.",
        errors=[{"field": "code", "message": "already used in this program"}],
    )
    if coupon_code_taken(program, code):
        raise taken
    try:
        with transaction.atomic():
            coupon = Coupon.objects.create(program=program, participant=participant, code=code)
            audit_record(
                program=program,
                actor=actor,
                action="coupon.created",
                object_type="coupon",
                object_id=coupon.pk,
                after={"participant": participant.external_id, "code": code},
            )
    except IntegrityError:
        raise taken from None
    return coupon
