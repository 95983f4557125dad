"""Partner tier services: recompute a partner's tier (on an event, nightly, by an operator)
and change a program's tiers. Every change of a partner's tier happens under the
participant's row lock, with its TierChange row, its audit entry and its
``participant.tier_changed`` webhook in the same transaction."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.exceptions import Conflict, ValidationFailed
from config.platform.models import Program
from config.platform.webhooks.services import webhook_emit
from rules.models import Event, Participant, Referral
from rules.tiers.criteria import criteria_errors
from rules.tiers.models import RANK_MAX, RANK_PARK, TIER_KEY_CHECK, Tier, TierChange
from rules.tiers.selectors import stats_by_window, tier_earned, tier_list, usable_tiers

TIER_CHANGED = "participant.tier_changed"
ACTOR = "system"


def _tier_ref(tier: Tier | None, key: str) -> dict[str, Any] | None:
    if not key:
        return None
    return {"key": key, "name": tier.name if tier else key, "rank": tier.rank if tier else None}


def participant_tier_recompute(
    *,
    participant_id: int,
    reason: str,
    actor: str = ACTOR,
    event: Event | None = None,
    now: datetime | None = None,
    also: Collection[int] = (),
) -> TierChange | None:
    """Set the participant's tier to the one its figures earn now; the change (if any), else
    None. Idempotent, and safe against itself: the figures are read under the participant's
    row lock, so two recomputes of one partner write one change. `event`: the event being
    processed, which counts though not yet marked processed; `also`: the events processed
    before it in the same transaction (a batch marks them processed at its end)."""
    now = now or timezone.now()
    with transaction.atomic():
        participant = (
            Participant.objects.select_for_update().select_related("program").get(pk=participant_id)
        )
        program = participant.program
        tiers = usable_tiers(tier_list(program=program))
        stats = stats_by_window(
            program=program,
            tiers=tiers,
            now=now,
            referrer_ids=[participant.pk],
            include_event_pks={*also, *([event.pk] if event is not None else [])},
        )
        earned = tier_earned(tiers, stats, participant.pk)
        to_key = earned.key if earned else ""
        from_key = participant.tier
        if to_key == from_key:
            return None
        Participant.objects.filter(pk=participant.pk).update(tier=to_key, updated_at=now)
        participant.tier = to_key
        figures = {str(days): by_id.get(participant.pk) for days, by_id in stats.items()}
        change = TierChange.objects.create(
            program=program,
            participant=participant,
            from_tier=from_key,
            to_tier=to_key,
            reason=reason,
            event_id=event.event_id if event is not None else "",
            stats={days: f or {} for days, f in figures.items()},
            at=now,
        )
        previous = next((t for t in tiers if t.key == from_key), None)
        audit_record(
            program=program,
            actor=actor,
            action=TIER_CHANGED,
            object_type="participant",
            object_id=participant.external_id,
            before={"tier": from_key},
            after={"tier": to_key},
            reason=f"{reason}" + (f" (event {event.event_id})" if event is not None else ""),
        )
        webhook_emit(
            program=program,
            event_type=TIER_CHANGED,
            payload={
                "participant": participant.external_id,
                "from": _tier_ref(previous, from_key),
                "to": _tier_ref(earned, to_key),
                "reason": reason,
                "event": event.event_id if event is not None else None,
                "stats": change.stats,
                "changed_at": now,
            },
        )
        return change


def tier_recompute_for_event(*, event: Event, also: Collection[int] = ()) -> None:
    """After an event's actions ran (inside its processing transaction): recompute the tiers
    of the user's referrer and the referrer's referrer. Nothing to do, and one query, for a
    program without tiers. `also`: the events a batch processed before it in its transaction,
    which count too."""
    if not Tier.objects.filter(program_id=event.program_id).exists():
        return
    ids: list[int] = []
    person = event.participant_id
    for _ in range(2):  # the referrer, then the parent
        up = Referral.objects.filter(referred_id=person).values_list("referrer_id", flat=True)
        found = up.first()
        if found is None:
            break
        ids.append(found)
        person = found
    # One lock order for everyone (ascending ids): two events never wait on each other.
    for participant_id in sorted(set(ids)):
        participant_tier_recompute(
            participant_id=participant_id,
            reason=TierChange.Reason.CONVERSION,
            event=event,
            also=also,
        )


@dataclass
class RecomputeResult:
    programs: int = 0
    checked: int = 0
    changes: list[TierChange] = field(default_factory=list)


def tiers_recompute_program(
    *,
    program: Program,
    reason: str = TierChange.Reason.NIGHTLY,
    actor: str = ACTOR,
    now: datetime | None = None,
) -> RecomputeResult:
    """Every partner of the program whose tier is not the one its figures earn now (both ways:
    promotion and demotion, a deleted tier's holders included). The figures are read for the
    whole program per window first; each partner that looks due is then recomputed under its
    own lock, one short transaction each, so events keep flowing."""
    now = now or timezone.now()
    tiers = usable_tiers(tier_list(program=program))
    stats = stats_by_window(program=program, tiers=tiers, now=now)
    result = RecomputeResult(programs=1)
    rows = Participant.objects.filter(program=program).order_by("pk").values_list("pk", "tier")
    for pk, current in rows.iterator(chunk_size=2000):
        result.checked += 1
        earned = tier_earned(tiers, stats, pk)
        if (earned.key if earned else "") == current:
            continue
        change = participant_tier_recompute(participant_id=pk, reason=reason, actor=actor, now=now)
        if change is not None:
            result.changes.append(change)
    return result


def tiers_recompute_all(*, now: datetime | None = None) -> RecomputeResult:
    """The nightly job: every program with tiers, and every program whose partners still hold
    a tier (its tiers were deleted: they are demoted)."""
    now = now or timezone.now()
    with_tiers = set(Tier.objects.values_list("program_id", flat=True))
    holding = set(
        Participant.objects.exclude(tier="").values_list("program_id", flat=True).distinct()
    )
    total = RecomputeResult()
    for program in Program.objects.filter(pk__in=with_tiers | holding).order_by("pk"):
        one = tiers_recompute_program(program=program, now=now)
        total.programs += 1
        total.checked += one.checked
        total.changes.extend(one.changes)
    return total


# Changing a program's tiers ------------------------------------------------------------------


def _tier_errors(data: Any, index: int) -> list[dict[str, str]]:
    where = f"tiers[{index}]"
    if not isinstance(data, dict):
        return [{"field": where, "message": "must be an object"}]
    errors = []
    unknown = set(data) - {"key", "name", "rank", "criteria"}
    errors += [{"field": f"{where}.{str(k)[:60]}", "message": "unknown field"} for k in unknown]
    key = data.get("key")
    if not isinstance(key, str) or not re.fullmatch(TIER_KEY_CHECK, key):
        errors.append(
            {"field": f"{where}.key", "message": "lower-case letters, digits, - and _ (1-64)"}
        )
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100 or "\x00" in name:
        errors.append({"field": f"{where}.name", "message": "a name of 1-100 characters"})
    rank = data.get("rank")
    if not isinstance(rank, int) or isinstance(rank, bool) or not 0 <= rank <= RANK_MAX:
        errors.append({"field": f"{where}.rank", "message": f"a whole number, 0 to {RANK_MAX}"})
    errors += [
        {"field": f"{where}.criteria", "message": m}
        for m in criteria_errors(data.get("criteria", {}))
    ]
    return errors


def tiers_replace(*, program: Program, tiers: Any, actor: str) -> list[Tier]:
    """Make the program's tiers exactly these (PUT P/tiers): tiers are matched by key, so a
    kept key keeps its holders; a tier left out is deleted (its holders are demoted by the next
    recompute, which this runs). Refuses the whole list on any error."""
    if not isinstance(tiers, list) or len(tiers) > 50:
        raise ValidationFailed(
            "tiers must be a list of at most 50 tiers.",
            errors=[{"field": "tiers", "message": "a list of at most 50 tiers"}],
        )
    errors = [e for i, t in enumerate(tiers) for e in _tier_errors(t, i)]
    if not errors:
        for attr in ("key", "rank"):
            values = [t[attr] for t in tiers]
            if len(set(values)) != len(values):
                errors.append({"field": "tiers", "message": f"two tiers have the same {attr}"})
    if errors:
        raise ValidationFailed("The tiers are not valid.", errors=errors)
    now = timezone.now()
    with transaction.atomic():
        Program.objects.select_for_update().filter(pk=program.pk).first()  # one writer
        before = {t.key: t for t in tier_list(program=program)}
        snapshot = [_tier_dict(t) for t in before.values()]
        Tier.objects.filter(program=program).exclude(key__in=[t["key"] for t in tiers]).delete()
        # Ranks may be swapped between kept tiers: park them out of the unique range first.
        Tier.objects.filter(program=program).update(rank=F("rank") + RANK_PARK)
        kept = []
        for data in tiers:
            tier = before.get(data["key"]) or Tier(program=program, key=data["key"])
            tier.name = data["name"].strip()
            tier.rank = data["rank"]
            tier.criteria = data.get("criteria", {})
            tier.updated_at = now
            try:
                tier.save()
            except IntegrityError as exc:  # pragma: no cover - refused above
                raise Conflict("Two tiers have the same key or rank.") from exc
            kept.append(tier)
        audit_record(
            program=program,
            actor=actor,
            action="tiers.replaced",
            object_type="program",
            object_id=program.slug,
            before={"tiers": snapshot},
            after={"tiers": [_tier_dict(t) for t in kept]},
        )
    tiers_recompute_program(program=program, reason=TierChange.Reason.RECOMPUTE, actor=actor)
    return sorted(kept, key=lambda t: t.rank)


def _tier_dict(tier: Tier) -> dict[str, Any]:
    return {"key": tier.key, "name": tier.name, "rank": tier.rank, "criteria": tier.criteria}


def tier_save(*, tier: Tier, actor: str) -> Tier:
    """Create or change one tier (the admin): checked, audited, then the program's partners
    are recomputed so the change shows at once rather than at night."""
    errors = [{"field": "criteria", "message": m} for m in criteria_errors(tier.criteria)]
    if not 0 <= tier.rank <= RANK_MAX:
        errors.append({"field": "rank", "message": f"a whole number, 0 to {RANK_MAX}"})
    if errors:
        raise ValidationFailed("The tier is not valid.", errors=errors)
    created = tier.pk is None
    before = None if created else _tier_dict(Tier.objects.get(pk=tier.pk))
    with transaction.atomic():
        tier.updated_at = timezone.now()
        tier.save()
        audit_record(
            program=tier.program,
            actor=actor,
            action="tier.created" if created else "tier.changed",
            object_type="tier",
            object_id=tier.key,
            before=before,
            after=_tier_dict(tier),
        )
    return tier


def tier_delete(*, tier: Tier, actor: str) -> None:
    with transaction.atomic():
        audit_record(
            program=tier.program,
            actor=actor,
            action="tier.deleted",
            object_type="tier",
            object_id=tier.key,
            before=_tier_dict(tier),
        )
        tier.delete()


def participants_tier_recompute(*, participant_ids: Iterable[int], actor: str) -> list[TierChange]:
    """An operator's "recompute now" for chosen partners."""
    changes = []
    for pk in sorted(set(participant_ids)):
        change = participant_tier_recompute(
            participant_id=pk, reason=TierChange.Reason.RECOMPUTE, actor=actor
        )
        if change is not None:
            changes.append(change)
    return changes
