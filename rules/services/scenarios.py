"""Saved test scenarios of a rule (issue 15, GoRules' scenario suites): an event as
POST P/rules/{id}/test takes it and the expected outcome. They run through the test machinery
(rules.services.simulate.definition_test), so a run writes nothing but the scenarios' own
``last_result``: never an event, a reward or a ledger row.

A save of the rule (a new version) runs them and stores the results; publishing refuses a
version while one fails (rules.services.publishing)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from config.platform.api.serializers import aware_time
from config.platform.audit import audit_record
from config.platform.exceptions import ValidationFailed
from config.platform.models import Program
from rules.action_registry import action_for
from rules.explain import format_money
from rules.models import Rule, RuleScenario, RuleVersion
from rules.services.rules import rule_definition_check, rule_update
from rules.services.simulate import definition_test

# A suite runs synchronously on every save: bounded.
MAX_SCENARIOS_PER_RULE = 100


def _event_json(event: dict[str, Any]) -> dict[str, Any]:
    """A validated test event (TestEventSerializer) as stored JSON."""
    stored: dict[str, Any] = {
        "type": event["type"],
        "user": event["user"],
        "attributes": event.get("attributes") or {},
        "data": event.get("data") or {},
    }
    if event.get("id"):
        stored["id"] = event["id"]
    if event.get("occurred_at") is not None:
        stored["occurred_at"] = event["occurred_at"].isoformat().replace("+00:00", "Z")
    return stored


def _expect_json(expect: dict[str, Any]) -> dict[str, Any]:
    stored: dict[str, Any] = {"matched": expect["matched"]}
    if "rewards" in expect:
        stored["rewards"] = [
            {k: r[k] for k in ("beneficiary", "amount", "currency") if k in r}
            for r in expect["rewards"]
        ]
    return stored


def _event_for_run(stored: dict[str, Any]) -> dict[str, Any]:
    event = dict(stored)
    event["occurred_at"] = aware_time(stored.get("occurred_at"))
    return event


def _rewards_of(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rewards a test run's planned actions would book (not skipped, an amount)."""
    rewards = []
    for action in actions:
        kind = action_for(action.get("type"))
        if kind is None or not kind.books_reward or action.get("skipped"):
            continue
        if action.get("amount"):
            rewards.append(
                {
                    "beneficiary": action["beneficiary"],
                    "amount": action["amount"],
                    "currency": action.get("currency"),
                }
            )
    return rewards


def _describe(rewards: list[dict[str, Any]], currency: str) -> str:
    if not rewards:
        return "none"
    return ", ".join(
        f"{r['beneficiary']} {format_money(r['amount'], r.get('currency') or currency)}"
        for r in rewards
    )


def _compare(expect: dict[str, Any], actual: dict[str, Any], currency: str) -> tuple[bool, str]:
    if expect["matched"] != actual["matched"]:
        if expect["matched"]:
            return False, "expected the rule to match; it did not"
        return False, "expected no match; the rule matched"
    if "rewards" not in expect:
        return True, ""
    left = list(actual["rewards"])
    missing = []
    for wanted in expect["rewards"]:
        found = next(
            (
                i
                for i, got in enumerate(left)
                if got["beneficiary"] == wanted["beneficiary"]
                and got["amount"] == wanted["amount"]
                and ("currency" not in wanted or got["currency"] == wanted["currency"])
            ),
            None,
        )
        if found is None:
            missing.append(wanted)
        else:
            left.pop(found)
    if missing or left:
        return False, (
            f"expected rewards: {_describe(expect['rewards'], currency)}; "
            f"got: {_describe(actual['rewards'], currency)}"
        )
    return True, ""


def scenario_evaluate(
    *, program: Program, definition: dict[str, Any], scenario: RuleScenario
) -> dict[str, Any]:
    """One scenario against a (valid) definition: {"scenario", "name", "passed", "message",
    "expected", "actual": {"matched", "rewards"}}."""
    try:
        run = definition_test(
            program=program, definition=definition, event=_event_for_run(scenario.event)
        )
    except Exception as exc:  # a stored event the program can no longer evaluate
        return {
            "scenario": scenario.pk,
            "name": scenario.name,
            "passed": False,
            "message": f"could not run: {exc}"[:500],
            "expected": scenario.expect,
            "actual": None,
        }
    actual = {"matched": run["matched"], "rewards": _rewards_of(run["actions"])}
    passed, message = _compare(scenario.expect, actual, program.currency)
    return {
        "scenario": scenario.pk,
        "name": scenario.name,
        "passed": passed,
        "message": message,
        "expected": scenario.expect,
        "actual": actual,
    }


def scenarios_of(rule: Rule) -> list[RuleScenario]:
    return list(RuleScenario.objects.filter(rule=rule).order_by("name", "id"))


def scenarios_run(
    *, program: Program, rule: Rule, definition: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every scenario of the rule against a definition; writes nothing."""
    return [
        scenario_evaluate(program=program, definition=definition, scenario=s)
        for s in scenarios_of(rule)
    ]


def scenarios_run_unsaved(*, program: Program, rule: Rule, definition: Any) -> dict[str, Any]:
    """POST P/rules/{id}/scenarios/run with a definition: validated (400 rule_invalid), then
    every scenario against it. Nothing is written."""
    rule_definition_check(program=program, definition=definition)
    results = scenarios_run(program=program, rule=rule, definition=definition)
    return {"passed": all(r["passed"] for r in results), "results": results}


def _last_result(result: dict[str, Any], version: int) -> dict[str, Any]:
    return {
        "passed": result["passed"],
        "version": version,
        "ran_at": timezone.now().isoformat().replace("+00:00", "Z"),
        "message": result["message"],
    }


def scenarios_record(*, rule: Rule, version: RuleVersion) -> dict[str, Any]:
    """Run every scenario against a saved version and store each one's last_result:
    {"total", "failed", "results"} (a save's response carries it)."""
    program = rule.program
    results = scenarios_run(program=program, rule=rule, definition=version.definition)
    with transaction.atomic():
        for result in results:
            RuleScenario.objects.filter(pk=result["scenario"]).update(
                last_result=_last_result(result, version.version)
            )
    return {
        "total": len(results),
        "failed": sum(1 for r in results if not r["passed"]),
        "results": results,
    }


def scenarios_run_latest(*, rule: Rule) -> dict[str, Any]:
    """POST P/rules/{id}/scenarios/run without a definition: against the latest version, the
    results stored as each scenario's last_result."""
    version = RuleVersion.objects.get(rule=rule, version=rule.latest_version)
    recorded = scenarios_record(rule=rule, version=version)
    return {"passed": recorded["failed"] == 0, "results": recorded["results"]}


def scenarios_failing(*, rule: Rule, version: RuleVersion) -> list[dict[str, Any]]:
    """The scenarios that fail against a version (publishing refuses it while any do)."""
    results = scenarios_run(program=rule.program, rule=rule, definition=version.definition)
    return [r for r in results if not r["passed"]]


def _refresh(scenario: RuleScenario, rule: Rule) -> None:
    """Run a new or changed scenario against the latest version and store the result."""
    version = RuleVersion.objects.get(rule=rule, version=rule.latest_version)
    result = scenario_evaluate(
        program=rule.program, definition=version.definition, scenario=scenario
    )
    scenario.last_result = _last_result(result, version.version)
    scenario.save(update_fields=["last_result"])


def _name_taken(rule: Rule, name: str, exclude: int | None = None) -> None:
    taken = RuleScenario.objects.filter(rule=rule, name=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise ValidationFailed(
            f"Rule {rule.pk} already has a scenario named {name!r}.",
            errors=[{"field": "name", "message": "another scenario of this rule has this name"}],
        )


def scenario_create(
    *, rule: Rule, name: str, event: dict[str, Any], expect: dict[str, Any], actor: str
) -> RuleScenario:
    """A new scenario (validated by ScenarioWriteSerializer), run at once against the latest
    version."""
    with transaction.atomic():
        locked = Rule.objects.select_for_update().select_related("program").get(pk=rule.pk)
        if RuleScenario.objects.filter(rule=locked).count() >= MAX_SCENARIOS_PER_RULE:
            raise ValidationFailed(
                f"A rule keeps at most {MAX_SCENARIOS_PER_RULE} scenarios.",
                errors=[{"field": "name", "message": "too many scenarios"}],
            )
        _name_taken(locked, name)
        scenario = RuleScenario.objects.create(
            rule=locked,
            name=name,
            event=_event_json(event),
            expect=_expect_json(expect),
            created_by=actor,
        )
        audit_record(
            program=locked.program,
            actor=actor,
            action="rule.scenario_created",
            object_type="rule",
            object_id=locked.pk,
            after={
                "scenario": scenario.pk,
                "name": name,
                "event": scenario.event,
                "expect": scenario.expect,
            },
        )
        _refresh(scenario, locked)
    return scenario


def scenario_update(
    *,
    scenario: RuleScenario,
    name: str,
    event: dict[str, Any],
    expect: dict[str, Any],
    actor: str,
) -> RuleScenario:
    with transaction.atomic():
        locked_rule = (
            Rule.objects.select_for_update().select_related("program").get(pk=scenario.rule_id)
        )
        locked = RuleScenario.objects.select_for_update().get(pk=scenario.pk)
        _name_taken(locked_rule, name, exclude=locked.pk)
        before = {"name": locked.name, "event": locked.event, "expect": locked.expect}
        locked.name, locked.event, locked.expect = name, _event_json(event), _expect_json(expect)
        locked.updated_at = timezone.now()
        locked.save(update_fields=["name", "event", "expect", "updated_at"])
        audit_record(
            program=locked_rule.program,
            actor=actor,
            action="rule.scenario_updated",
            object_type="rule",
            object_id=locked_rule.pk,
            before={"scenario": locked.pk, **before},
            after={
                "scenario": locked.pk,
                "name": name,
                "event": locked.event,
                "expect": locked.expect,
            },
        )
        _refresh(locked, locked_rule)
    return locked


def scenario_delete(*, scenario: RuleScenario, actor: str) -> None:
    with transaction.atomic():
        rule = Rule.objects.select_for_update().select_related("program").get(pk=scenario.rule_id)
        before = {
            "scenario": scenario.pk,
            "name": scenario.name,
            "event": scenario.event,
            "expect": scenario.expect,
        }
        RuleScenario.objects.filter(pk=scenario.pk).delete()
        audit_record(
            program=rule.program,
            actor=actor,
            action="rule.scenario_deleted",
            object_type="rule",
            object_id=rule.pk,
            before=before,
        )


def rule_save(*, rule: Rule, definition: Any, actor: str) -> tuple[Rule, dict[str, Any]]:
    """PUT P/rules/{id}: a new version (rules.services.rules.rule_update), then the rule's
    scenarios run against it with their results stored: (rule, {"total", "failed",
    "results"})."""
    saved = rule_update(rule=rule, definition=definition, actor=actor)
    version = RuleVersion.objects.get(rule=saved, version=saved.latest_version)
    return saved, scenarios_record(rule=saved, version=version)
