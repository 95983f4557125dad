"""A rule action is one module: register a toy action and every part of the rules app knows it
(the schema, validation, planning, running, explaining, drafting from text, the admin's
publish page and the builder's catalog), with no other change; unregistered, it is gone."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from rules import action_registry as registry
from rules.action_registry import (
    BENEFICIARY,
    ActionOutcome,
    ActionStep,
    CheckContext,
    ParamField,
    PlanContext,
    Planned,
    RuleAction,
)
from rules.actions.rewarding import reward_book
from rules.admin import rule_pays
from rules.catalog import catalog_for
from rules.engine.plan import plan_actions
from rules.explain import explain, format_money
from rules.nl import parse_offline
from rules.phrases import PhraseReader
from rules.rewards.models import Reward
from rules.validation import rule_schema, validate_definition
from tests.rules.conftest import ALWAYS, rule_def

CATALOG = catalog_for()
TOY = "thank_you_tip"


class ThankYouTip(RuleAction):
    """A fixed tip in the program's currency, paid as cash; amounts must be whole hundreds."""

    type = TOY
    label = "Thank-you tip"
    params_schema = {
        "type": "object",
        "required": ["amount"],
        "additionalProperties": False,
        "properties": {
            "beneficiary": {"$ref": "#/$defs/beneficiary"},
            "amount": {"$ref": "#/$defs/minor_units"},
        },
    }
    fields = (BENEFICIARY, ParamField("amount", "Tip", "money", hint="In {currency}."))
    summary = ("tip {amount}",)
    integer_params = ("amount",)
    books_reward = True
    phrase_order = 1

    def check(self, params: Mapping[str, Any], *, path: str, context: CheckContext) -> list:
        errors = super().check(params, path=path, context=context)
        if not errors and params["amount"] % 100:
            errors.append({"path": f"{path}.amount", "message": "a tip is whole hundreds"})
        return errors

    def plan(
        self,
        params: Mapping[str, Any],
        facts: Mapping[str, Any],
        *,
        role: str,
        context: PlanContext,
    ) -> Planned:
        values = {"amount": params["amount"], "currency": context.currency, "reward_type": "cash"}
        return Planned(values)

    def run(self, step: ActionStep, outcome: ActionOutcome) -> None:
        reward_book(step, outcome)

    def explain(self, params: Mapping[str, Any], *, who: str, currency: str | None) -> str:
        amount = format_money(params["amount"], currency) if currency else params["amount"]
        return f"tip {who} {amount}"

    def pays(self, params: Mapping[str, Any], *, who: str, currency: str) -> str:
        return f"{who}: a tip of {params['amount']} minor units"

    def draft(self, parser: PhraseReader, *, trigger: str) -> list[dict[str, Any]] | None:
        match = parser.find(r"\btip (?:the referrer )?(\d+)\b")
        if not match:
            return None
        return [{"type": TOY, "params": {"amount": int(match.group(1)) * 100}}]

    def defaults(self, *, currency: str) -> dict[str, Any]:
        return {"beneficiary": "referrer", "amount": 100}


TIP = {"type": TOY, "params": {"beneficiary": "referrer", "amount": 2500}}


@pytest.fixture
def toy() -> Iterator[RuleAction]:
    action = registry.register(ThankYouTip())
    try:
        yield action
    finally:
        registry.unregister(TOY)


def test_the_schema_and_validation_take_a_registered_action(toy):
    schema = rule_schema()
    assert TOY in schema["$defs"]["action"]["properties"]["type"]["enum"]
    assert schema["$defs"][TOY] == ThankYouTip.params_schema
    assert validate_definition(rule_def(actions=[TIP]), catalog=CATALOG) == []
    # The schema checks its params' shape, the action its semantics.
    extra = {"type": TOY, "params": {"amount": 2500, "currency": "INR"}}
    [error] = validate_definition(rule_def(actions=[extra]), catalog=CATALOG)
    assert error["path"] == "$.actions[0].params"
    odd = {"type": TOY, "params": {"amount": 2550}}
    assert validate_definition(rule_def(actions=[odd]), catalog=CATALOG) == [
        {"path": "$.actions[0].params.amount", "message": "a tip is whole hundreds"}
    ]


def test_an_unregistered_action_is_refused_again():
    registry.register(ThankYouTip())
    registry.unregister(TOY)
    assert TOY not in rule_schema()["$defs"]["action"]["properties"]["type"]["enum"]
    [error] = validate_definition(rule_def(actions=[TIP]), catalog=CATALOG)
    assert error["path"] == "$.actions[0].type"


def test_a_name_is_registered_once(toy):
    with pytest.raises(ValueError, match="already registered"):
        registry.register(ThankYouTip())


def test_it_is_planned_explained_drafted_and_shown_on_the_publish_page(toy):
    facts = {"referrer": {"id": "alice"}, "referred": {"id": "bob"}}
    [entry] = plan_actions(rule_def(actions=[TIP]), facts, currency="INR")
    assert entry == {
        "index": 0,
        "type": TOY,
        "beneficiary": "referrer",
        "beneficiary_id": "alice",
        "amount": 2500,
        "currency": "INR",
        "reward_type": "cash",
        "skipped": None,
    }
    sentence = explain(rule_def(actions=[TIP]), currency="INR")
    assert sentence.endswith("tip the referrer ₹25.00.")
    drafted = parse_offline("When someone signs up, tip the referrer 30", catalog=CATALOG)
    assert drafted["definition"]["actions"] == [{"type": TOY, "params": {"amount": 3000}}]
    assert rule_pays(rule_def(actions=[TIP]), "INR") == ["the referrer: a tip of 2500 minor units"]


@pytest.mark.django_db
def test_it_runs_when_its_rule_matches(toy, program, publish, refer, ingest, process):
    rule = publish(rule_def(trigger="signup", conditions=ALWAYS, actions=[TIP]))
    refer("alice", "bob")
    event = process(ingest("evt-tip", "signup", "bob"))
    [result] = event.results
    [reward] = Reward.objects.all()
    assert result["rule"] == rule.pk and result["rewards"] == [reward.pk]
    assert (reward.beneficiary, reward.amount, reward.reward_type) == ("alice", 2500, "cash")


@pytest.mark.django_db
def test_the_builder_catalog_and_the_served_schema_list_it(toy, api, url):
    catalog = api.get(url("rules/catalog")).json()
    entry = next(a for a in catalog["actions"] if a["type"] == TOY)
    assert entry == {
        "type": TOY,
        "label": "Thank-you tip",
        "defaults": {"beneficiary": "referrer", "amount": 100},
        "fields": [
            {
                "name": "beneficiary",
                "label": "Beneficiary",
                "kind": "beneficiary",
                "hint": registry.BENEFICIARY_FIELD_HINT,
                "options": ["referrer", "referred", "parent"],
            },
            {"name": "amount", "label": "Tip", "kind": "money", "hint": "In {currency}."},
        ],
        "summary": ["tip {amount}"],
    }
    schema = api.get(url("rules/schema")).json()
    assert TOY in schema["$defs"]["action"]["properties"]["type"]["enum"]
    definition = rule_def(trigger="signup", conditions=ALWAYS, actions=[TIP])
    assert api.post(url("rules/validate"), definition, format="json").json() == {"valid": True}


@pytest.mark.django_db
def test_the_builder_catalog_lists_the_built_in_actions(api, url):
    actions = api.get(url("rules/catalog")).json()["actions"]
    assert [a["type"] for a in actions] == ["credit_reward", "percent_commission", "award_credits"]
    credit_reward, _, award_credits = actions
    # A new action's params: the program's currency filled in.
    assert credit_reward["defaults"] == {
        "beneficiary": "referrer",
        "currency": "INR",
        "reward_type": "cash",
    }
    # The operation's suggestions are the program's credit operations.
    operation = next(f for f in award_credits["fields"] if f["name"] == "operation")
    assert {"DAILY_REWARD", "CREDIT_ADD"} <= set(operation["options"])
