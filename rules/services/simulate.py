"""Dry runs: test a rule version against one event, replay stored events through a draft.
Both only read: nothing is written, whatever the rule says."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from config.platform.exceptions import ValidationFailed
from config.platform.models import Program
from rules.action_registry import action_for
from rules.engine import compile_rule
from rules.engine.plan import plan_actions
from rules.models import Event, Participant, Rule
from rules.selectors import event_facts, facts_build, rule_version_get
from rules.services.rules import rule_definition_check
from rules.validation import schedule_bounds

# Replaying is synchronous: cap it so one request cannot scan a whole history.
MAX_SIMULATED_EVENTS = 20_000


def _plan(definition: dict[str, Any], facts: dict[str, Any], program: Program) -> list[dict]:
    return plan_actions(
        definition,
        facts,
        currency=program.currency,
        direct_rate_bps=program.direct_rate_bps,
        override_rate_bps=program.override_rate_bps,
    )


def _outside_schedule(definition: dict[str, Any], occurred_at: datetime) -> str | None:
    """Why an event that occurred then is outside the version's schedule (the pipeline skips
    it: active_from <= occurred_at < active_until), or None."""
    start, end = schedule_bounds(definition)
    if start is not None and occurred_at < start:
        return (
            f"The event occurred before the rule's active_from ({definition['active_from']}): "
            "it is not active yet, so it would be skipped; the conditions were evaluated anyway."
        )
    if end is not None and occurred_at >= end:
        return (
            f"The event occurred at or after the rule's active_until "
            f"({definition['active_until']}): it has expired, so it would be skipped; the "
            "conditions were evaluated anyway."
        )
    return None


def definition_test(
    *,
    program: Program,
    definition: dict[str, Any],
    event: dict[str, Any],
    rule: int | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """Evaluate a (valid) definition against an event as POST events takes it. The user's
    stored profile is used with the event's attributes merged in, unsaved."""
    user = event["user"]
    participant = Participant.objects.filter(program=program, external_id=user).first()
    facts, _ = facts_build(
        participant=participant,
        user=user,
        type=event["type"],
        occurred_at=event.get("occurred_at") or timezone.now(),
        data=event.get("data") or {},
        extra_attributes=event.get("attributes") or {},
    )
    evaluation = compile_rule(definition).evaluate(facts)
    warnings = []
    matched = evaluation.matched
    if event["type"] != definition.get("trigger"):
        warnings.append(
            f"An event of type {event['type']!r} does not fire this rule (trigger "
            f"{definition.get('trigger')!r}); the conditions were evaluated anyway."
        )
        matched = False
    outside = _outside_schedule(definition, event.get("occurred_at") or timezone.now())
    if outside:
        warnings.append(outside)
        matched = False
    return {
        "rule": rule,
        "version": version,
        "matched": matched,
        "conditions_matched": evaluation.matched,
        "trace": evaluation.trace,
        "actions": _plan(definition, facts, program) if matched else [],
        "warnings": warnings,
    }


def rule_test(
    *, program: Program, rule: Rule, event: dict[str, Any], version: int | None = None
) -> dict[str, Any]:
    """Evaluate one version (latest by default) against an event as POST events takes it."""
    rule_version = rule_version_get(rule=rule, version=version)
    return definition_test(
        program=program,
        definition=rule_version.definition,
        event=event,
        rule=rule.pk,
        version=rule_version.version,
    )


def rule_test_unsaved(
    *, program: Program, definition: Any, event: dict[str, Any]
) -> dict[str, Any]:
    """Evaluate a definition that is not saved (the builder's canvas): validated first (400
    rule_invalid), then as rule_test; "rule" and "version" are null. Nothing is written."""
    rule_definition_check(program=program, definition=definition)
    return definition_test(program=program, definition=definition, event=event)


def rule_simulate(
    *, program: Program, definition: dict[str, Any], start: datetime, end: datetime
) -> dict[str, Any]:
    """Replay the stored events of the rule's trigger that occurred in [start, end] through
    `definition`. Profiles are read as they are now; per-rule limits are not applied."""
    rule_definition_check(program=program, definition=definition)
    if start > end:
        raise ValidationFailed(
            "'from' must not be after 'to'.",
            errors=[{"field": "from", "message": "after 'to'"}],
        )
    compiled = compile_rule(definition)
    events = (
        Event.objects.filter(
            program=program,
            type=definition["trigger"],
            occurred_at__gte=start,
            occurred_at__lte=end,
        )
        .select_related("participant")
        .order_by("occurred_at", "id")[:MAX_SIMULATED_EVENTS]
    )
    scanned = matched = count = amount = 0
    for event in events:
        scanned += 1
        if _outside_schedule(definition, event.occurred_at):
            continue  # the pipeline would skip it
        facts, _ = event_facts(event)
        if not compiled.matches(facts):
            continue
        matched += 1
        for action in _plan(definition, facts, program):
            kind = action_for(action["type"])
            pays = kind is not None and kind.books_reward
            if pays and not action.get("skipped") and action["amount"]:
                count += 1
                amount += action["amount"]
    return {
        "events_scanned": scanned,
        "matched": matched,
        "rewards": {"count": count, "amount": amount, "currency": program.currency},
        "truncated": scanned >= MAX_SIMULATED_EVENTS,
    }
