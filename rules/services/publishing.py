"""Publishing with care (issue 15): a version whose scenarios fail is not published, and a
program may require a second person (RuleProgramConfig.rules_publish_requires_approval, the
two-person rule payouts have). Then a publish makes a RulePublishRequest that someone other
than its requester approves, which publishes, or rejects. Actors are compared as payouts
compare them (rules.rewards.services.payouts.payout_batch_approve): the actor string, so an
API key acts as its owner and a person's keys and session are one identity.

rules.services.rules.rule_publish stays the bare step (fixtures, the pipeline's tests); the API
and the admin publish through here."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.exceptions import (
    FourEyesViolation,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from rules.models import Rule, RulePublishRequest, RuleVersion
from rules.selectors import rule_version_get, rules_config_get
from rules.services.rules import rule_definition_check, rule_publish
from rules.services.scenarios import scenarios_failing

Status = RulePublishRequest.Status


class ScenariosFailing(InvalidTransition):
    """409 invalid_transition: the version fails some of the rule's scenarios. The API adds
    ``scenarios`` (the failing results) to the problem body."""

    def __init__(self, rule: Rule, version: RuleVersion, failing: list[dict[str, Any]]):
        self.scenarios = failing
        names = ", ".join(repr(r["name"]) for r in failing[:5])
        super().__init__(
            f"Version {version.version} of rule {rule.pk} fails {len(failing)} scenario(s): "
            f"{names}. Fix the rule or the scenarios before publishing.",
            errors=[
                {"field": "scenarios", "message": f"{r['name']}: {r['message']}"} for r in failing
            ],
        )


class PublishFourEyesViolation(FourEyesViolation):
    """403 four_eyes_violation, titled for rules (the base class speaks of payout batches)."""

    title = "Who asked to publish a rule cannot approve it"


def _check_scenarios(rule: Rule, version: RuleVersion) -> None:
    failing = scenarios_failing(rule=rule, version=version)
    if failing:
        raise ScenariosFailing(rule, version, failing)


def _valid_version(version: Any) -> None:
    if version is not None and (type(version) is not int or version < 1):
        raise ValidationFailed(
            "version is a positive integer.",
            errors=[{"field": "version", "message": "must be a positive integer"}],
        )


def _request_json(request: RulePublishRequest) -> dict[str, Any]:
    return {
        "request": request.pk,
        "version": request.version.version,
        "status": request.status,
        "requested_by": request.requested_by,
        "decided_by": request.decided_by,
        "reason": request.reason,
    }


def rule_publish_checked(
    *, rule: Rule, version: int | None = None, actor: str
) -> Rule | RulePublishRequest:
    """POST P/rules/{id}/publish (and the admin's action): the version (latest by default)
    must pass the rule's scenarios; then it is published, or, when the program requires
    approval, a pending RulePublishRequest is returned."""
    _valid_version(version)
    target = rule_version_get(rule=rule, version=version)
    rule_definition_check(program=rule.program, definition=target.definition)
    _check_scenarios(rule, target)
    if rules_config_get(program=rule.program).rules_publish_requires_approval:
        return publish_request_create(rule=rule, version=target, actor=actor)
    with transaction.atomic():
        published = rule_publish(rule=rule, version=target.version, actor=actor)
        # A request made while approval was on must not roll this back when approved later.
        _supersede_pending(published, actor=actor, why=f"version {target.version} was published")
    return published


def _supersede_pending(rule: Rule, *, actor: str, why: str) -> None:
    pending = (
        RulePublishRequest.objects.select_for_update()
        .select_related("version")
        .filter(rule=rule, status=Status.PENDING)
    )
    for request in pending:
        before = _request_json(request)
        request.status = Status.SUPERSEDED
        request.decided_at = timezone.now()
        request.reason = f"superseded: {why}"
        request.save(update_fields=["status", "decided_at", "reason"])
        audit_record(
            program=rule.program,
            actor=actor,
            action="rule.publish_request_superseded",
            object_type="rule",
            object_id=rule.pk,
            before=before,
            after=_request_json(request),
        )


def publish_request_create(*, rule: Rule, version: RuleVersion, actor: str) -> RulePublishRequest:
    """Ask for a version to be published. A pending request for the same version is returned
    as it is; one for another version is superseded."""
    with transaction.atomic():
        locked = Rule.objects.select_for_update().select_related("program").get(pk=rule.pk)
        pending = (
            RulePublishRequest.objects.select_for_update()
            .select_related("version")
            .filter(rule=locked, status=Status.PENDING)
            .first()
        )
        if pending is not None and pending.version_id == version.pk:
            return pending
        if pending is not None:
            _supersede_pending(locked, actor=actor, why=f"a request for version {version.version}")
        created = RulePublishRequest.objects.create(
            rule=locked, version=version, requested_by=actor
        )
        audit_record(
            program=locked.program,
            actor=actor,
            action="rule.publish_requested",
            object_type="rule",
            object_id=locked.pk,
            after=_request_json(created),
        )
    return created


def publish_request_get(*, rule: Rule, request_id: Any) -> RulePublishRequest:
    try:
        pk = int(request_id)
    except (TypeError, ValueError):
        raise NotFound(f"No publish request {request_id!r}.") from None
    found = RulePublishRequest.objects.filter(rule=rule, pk=pk).select_related("version").first()
    if found is None:
        raise NotFound(f"Rule {rule.pk} has no publish request {request_id!r}.")
    return found


def publish_request_list(*, rule: Rule):
    return RulePublishRequest.objects.filter(rule=rule).select_related("version")


def _lock_pending(publish_request: RulePublishRequest) -> tuple[Rule, RulePublishRequest]:
    """The rule, then the request, locked (in the order publish_request_create locks them);
    a request that is no longer pending is 409."""
    rule = (
        Rule.objects.select_for_update().select_related("program").get(pk=publish_request.rule_id)
    )
    locked = (
        RulePublishRequest.objects.select_for_update()
        .select_related("version")
        .get(pk=publish_request.pk)
    )
    if locked.status != Status.PENDING:
        raise InvalidTransition(f"Publish request {locked.pk} is {locked.status}, not pending.")
    return rule, locked


def publish_request_approve(*, publish_request: RulePublishRequest, actor: str) -> Rule:
    """A second person approves: the version is published (scenarios checked again). The
    requester may never approve (403 four_eyes_violation; the database refuses it too). Two
    approvals at once publish once: the second finds the request approved (409)."""
    with transaction.atomic():
        rule, locked = _lock_pending(publish_request)
        if locked.requested_by == actor:
            raise PublishFourEyesViolation(
                f"{actor} requested publishing rule {rule.pk} version "
                f"{locked.version.version}; another person must approve it."
            )
        _check_scenarios(rule, locked.version)
        before = _request_json(locked)
        published = rule_publish(rule=rule, version=locked.version.version, actor=actor)
        locked.status = Status.APPROVED
        locked.decided_by, locked.decided_at = actor, timezone.now()
        locked.save(update_fields=["status", "decided_by", "decided_at"])
        audit_record(
            program=rule.program,
            actor=actor,
            action="rule.publish_approved",
            object_type="rule",
            object_id=rule.pk,
            before=before,
            after=_request_json(locked),
        )
    return published


def publish_request_reject(
    *, publish_request: RulePublishRequest, actor: str, reason: str
) -> RulePublishRequest:
    """Refuse (or, by the requester, withdraw) a pending request; a reason is required."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationFailed(
            "A reason is required to reject a publish request.",
            errors=[{"field": "reason", "message": "This field is required."}],
        )
    with transaction.atomic():
        rule, locked = _lock_pending(publish_request)
        before = _request_json(locked)
        locked.status = Status.REJECTED
        locked.decided_by, locked.decided_at = actor, timezone.now()
        locked.reason = reason.strip()
        locked.save(update_fields=["status", "decided_by", "decided_at", "reason"])
        audit_record(
            program=rule.program,
            actor=actor,
            action="rule.publish_rejected",
            object_type="rule",
            object_id=rule.pk,
            before=before,
            after=_request_json(locked),
            reason=locked.reason,
        )
    return locked
