"""Run planned rule actions through the money domain's services.

Every action has a deterministic key, ``evt:{event}:rule:{rule version}:act:{index}``: it is the
reward's ``source_key`` or the credit entry's ``nonce``, and the ledger refuses a second effect
with the same key. However often an event is processed, each action pays at most once. Each
action type runs itself (its module's ``run``); reward-paying ones book through
rules.actions.rewarding, which enforces the rule's limits."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from config.platform.exceptions import DomainError
from config.platform.models import Program
from rules.action_registry import ActionOutcome, ActionStep, action_for
from rules.actions.rewarding import current_memo, rule_limits
from rules.models import Event, Rule, RuleVersion

logger = logging.getLogger(__name__)


class ActionRefusedInBatch(Exception):
    """An action was refused while a batch ran the event's actions without a savepoint each
    (BatchMemo.fast): the batch rolls the event back and runs it again with them, so the
    refusal is recorded exactly as alone."""


def action_key(*, event_pk: int, rule_version_pk: int, index: int) -> str:
    return f"evt:{event_pk}:rule:{rule_version_pk}:act:{index}"


def actions_run(
    *,
    program: Program,
    event: Event,
    rule: Rule,
    rule_version: RuleVersion,
    planned: list[dict[str, Any]],
    hold_reason: str = "",
) -> ActionOutcome:
    """Run the planned actions of one matched rule. Call inside the processing transaction.
    A business refusal of one action (insufficient credits, a currency the program lacks) is
    recorded as skipped and the others still run; anything else propagates so the event is
    retried. In a batch (BatchMemo.fast) the actions share the event's savepoint instead of
    one each, and a refusal is ActionRefusedInBatch: the batch runs the event again."""
    outcome = ActionOutcome()
    actor = f"rule:{rule.pk}:v{rule_version.version}"
    limits = rule_limits(rule_version.definition)
    for action in planned:
        index, kind = action["index"], action["type"]
        if action.get("skipped"):
            outcome.skipped.append({"index": index, "type": kind, "reason": action["skipped"]})
            continue
        action_type = action_for(kind)
        if action_type is None:
            outcome.skipped.append(
                {"index": index, "type": kind, "reason": f"unknown action type {kind}"}
            )
            continue
        step = ActionStep(
            program=program,
            event=event,
            rule=rule,
            rule_version=rule_version,
            action=action,
            key=action_key(event_pk=event.pk, rule_version_pk=rule_version.pk, index=index),
            actor=actor,
            metadata={
                "event": event.event_id,
                "event_type": event.type,
                "rule": rule.pk,
                "rule_version": rule_version.version,
                "action": index,
            },
            limits=limits,
            hold_reason=hold_reason,
        )
        memo = current_memo()
        try:
            if memo is not None and memo.fast:
                action_type.run(step, outcome)
            else:
                with transaction.atomic():
                    action_type.run(step, outcome)
        except DomainError as exc:
            if memo is not None:
                if memo.fast:
                    raise ActionRefusedInBatch(str(exc)) from exc
                memo.forget_usage()  # its savepoint undid whatever it had counted
            outcome.skipped.append(
                {"index": index, "type": kind, "reason": f"{exc.code}: {exc.detail}"}
            )
    return outcome
