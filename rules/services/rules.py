"""Rules: create, new versions (immutable), publish (and roll back), archive."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.exceptions import InvalidTransition, ValidationFailed
from config.platform.models import Program
from rules.catalog import catalog_for
from rules.exceptions import RuleInvalid
from rules.models import Rule, RuleVersion
from rules.rewards.operations import operation_set_get
from rules.selectors import rule_get, rule_version_get, rules_config_get
from rules.validation import validate_definition


def program_catalog(*, program: Program) -> dict[str, Any]:
    """Built-in triggers and fields plus the program's custom ones."""
    return catalog_for(rules_config_get(program=program).custom_catalog or None)


def rule_definition_check(*, program: Program, definition: Any) -> None:
    """Schema and semantic validation; RuleInvalid lists every problem with its JSON path."""
    if not isinstance(definition, dict):
        raise RuleInvalid(
            "A rule definition is a JSON object.",
            errors=[{"path": "$", "message": "must be a JSON object"}],
        )
    errors = validate_definition(
        definition,
        catalog=program_catalog(program=program),
        currency=program.currency,
        operations=frozenset(operation_set_get(program.operation_set).__members__),
    )
    if errors:
        raise RuleInvalid(
            f"The rule definition has {len(errors)} problem(s): "
            + "; ".join(f"{e['path']}: {e['message']}" for e in errors[:5]),
            errors=errors,
        )


def rule_create(*, program: Program, definition: dict[str, Any], actor: str) -> Rule:
    rule_definition_check(program=program, definition=definition)
    with transaction.atomic():
        rule = Rule.objects.create(
            program=program, name=str(definition.get("name", ""))[:200], latest_version=1
        )
        RuleVersion.objects.create(rule=rule, version=1, definition=definition, created_by=actor)
        audit_record(
            program=program,
            actor=actor,
            action="rule.created",
            object_type="rule",
            object_id=rule.pk,
            after={"version": 1, "definition": definition},
        )
    return rule


def rule_update(*, rule: Rule, definition: dict[str, Any], actor: str) -> Rule:
    """Save a new draft version; the active version (if any) stays active until published."""
    rule_definition_check(program=rule.program, definition=definition)
    with transaction.atomic():
        locked = Rule.objects.select_for_update().get(pk=rule.pk)
        if locked.status == Rule.Status.ARCHIVED:
            raise InvalidTransition(f"Rule {rule.pk} is archived; publish a version to revive it.")
        number = locked.latest_version + 1
        RuleVersion.objects.create(
            rule=locked, version=number, definition=definition, created_by=actor
        )
        locked.latest_version = number
        locked.name = str(definition.get("name", ""))[:200]
        locked.updated_at = timezone.now()
        locked.save(update_fields=["latest_version", "name", "updated_at"])
        audit_record(
            program=rule.program,
            actor=actor,
            action="rule.version_created",
            object_type="rule",
            object_id=rule.pk,
            after={"version": number, "definition": definition},
        )
    return rule_get(program=rule.program, rule_id=rule.pk)


def rule_publish(*, rule: Rule, version: int | None = None, actor: str) -> Rule:
    """Make a version the active one: the latest by default, an older one to roll back."""
    if version is not None and (type(version) is not int or version < 1):
        raise ValidationFailed(
            "version is a positive integer.",
            errors=[{"field": "version", "message": "must be a positive integer"}],
        )
    with transaction.atomic():
        locked = Rule.objects.select_for_update().get(pk=rule.pk)
        target = rule_version_get(rule=locked, version=version)
        # The catalog may have changed since the version was saved: check again.
        rule_definition_check(program=rule.program, definition=target.definition)
        before = {
            "status": locked.status,
            "active_version": locked.active_version.version if locked.active_version else None,
        }
        locked.active_version = target
        locked.status = Rule.Status.ACTIVE
        locked.trigger = target.definition["trigger"]
        locked.priority = int(target.definition.get("priority", 0))
        locked.updated_at = timezone.now()
        locked.save(update_fields=["active_version", "status", "trigger", "priority", "updated_at"])
        audit_record(
            program=rule.program,
            actor=actor,
            action="rule.published",
            object_type="rule",
            object_id=rule.pk,
            before=before,
            after={"status": "active", "active_version": target.version},
        )
    return rule_get(program=rule.program, rule_id=rule.pk)


def rule_archive(*, rule: Rule, actor: str) -> Rule:
    """Stop evaluating the rule. Archiving an archived rule changes nothing."""
    with transaction.atomic():
        locked = Rule.objects.select_for_update().get(pk=rule.pk)
        if locked.status != Rule.Status.ARCHIVED:
            before = {"status": locked.status}
            locked.status = Rule.Status.ARCHIVED
            locked.updated_at = timezone.now()
            locked.save(update_fields=["status", "updated_at"])
            audit_record(
                program=rule.program,
                actor=actor,
                action="rule.archived",
                object_type="rule",
                object_id=rule.pk,
                before=before,
                after={"status": "archived"},
            )
    return rule_get(program=rule.program, rule_id=rule.pk)
