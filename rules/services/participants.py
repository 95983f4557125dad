"""Participants: upsert with attribute merge, referral codes."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.exceptions import ValidationFailed
from config.platform.identifiers import PARTICIPANT_ID_RE
from config.platform.models import Program
from rules.models import Participant

# No 0/O/1/I: codes are read aloud and typed from screenshots.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
# Attributes that the facts compute; a stored attribute of the same name would be shadowed.
RESERVED_ATTRIBUTES = frozenset({"id", "joined_at", "referrals_count"})


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _check_attributes(attributes: Any) -> dict[str, Any]:
    if not isinstance(attributes, dict):
        raise ValidationFailed(
            "attributes must be a JSON object.",
            errors=[{"field": "attributes", "message": "must be a JSON object"}],
        )
    reserved = sorted(RESERVED_ATTRIBUTES & attributes.keys())
    if reserved:
        raise ValidationFailed(
            f"Attribute name(s) {', '.join(reserved)} are reserved (computed by the system).",
            errors=[{"field": f"attributes.{k}", "message": "reserved name"} for k in reserved],
        )
    return attributes


def participant_get_or_create(
    *, program: Program, external_id: str, actor: str
) -> tuple[Participant, bool]:
    """The participant, created on first use (events and referrals may name new people)."""
    existing = Participant.objects.filter(program=program, external_id=external_id).first()
    if existing is not None:
        return existing, False
    if not isinstance(external_id, str) or not PARTICIPANT_ID_RE.fullmatch(external_id):
        # The ledger pays a participant into user:{id}:rewards: an id that cannot be a segment
        # of an account code (a:b, "a b", üref) would be a participant who can never be paid.
        raise ValidationFailed(
            f"A participant id is 1-200 characters: letters, digits, _ . @ - (not "
            f"{external_id!r}).",
            errors=[{"field": "external_id", "message": "letters, digits, _ . @ - (1-200)"}],
        )
    for _ in range(5):
        try:
            with transaction.atomic():
                participant = Participant.objects.create(
                    program=program, external_id=external_id, referral_code=_new_code()
                )
                audit_record(
                    program=program,
                    actor=actor,
                    action="participant.created",
                    object_type="participant",
                    object_id=external_id,
                    after={"referral_code": participant.referral_code},
                )
                return participant, True
        except IntegrityError:
            existing = Participant.objects.filter(program=program, external_id=external_id).first()
            if existing is not None:  # created concurrently
                return existing, False
            # otherwise a referral code collision: draw another
    raise RuntimeError("Could not draw a unique referral code")  # 32^8 codes: unreachable


def participant_merge_attributes(
    *, participant: Participant, attributes: dict[str, Any], actor: str
) -> Participant:
    """Merge `attributes` into the profile under a row lock (concurrent merges never lose a
    key). Call inside a transaction when the merge must be atomic with another write."""
    _check_attributes(attributes)
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        merged = {**locked.attributes, **attributes}
        if merged != locked.attributes:
            before = locked.attributes
            locked.attributes = merged
            locked.updated_at = timezone.now()
            locked.save(update_fields=["attributes", "updated_at"])
            audit_record(
                program=participant.program,
                actor=actor,
                action="participant.attributes_merged",
                object_type="participant",
                object_id=locked.external_id,
                before=before,
                after=merged,
            )
    return locked


def participant_upsert(
    *, program: Program, external_id: str, attributes: dict[str, Any], actor: str
) -> tuple[Participant, bool]:
    _check_attributes(attributes)
    with transaction.atomic():
        participant, created = participant_get_or_create(
            program=program, external_id=external_id, actor=actor
        )
        participant = participant_merge_attributes(
            participant=participant, attributes=attributes, actor=actor
        )
    return participant, created
