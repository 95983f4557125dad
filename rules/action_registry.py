"""The registry of rule actions: one ``RuleAction`` per action type.

The rule schema (rules.validation.rule_schema), validation, planning (rules.engine.plan),
running (rules.actions.run), explaining (rules.explain), the admin's publish page, the offline
drafter (rules.nl) and the builder's catalog (``GET P/rules/catalog``'s ``actions``) all ask
this registry, so an action is wholly defined by its module. The built-in actions register
from ``RulesConfig.ready()``; a test may register a toy action and unregister it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from config.platform.models import Program
    from rules.models import Event, Rule, RuleVersion
    from rules.phrases import PhraseReader

Error = dict[str, str]
_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
BENEFICIARY_FIELD_HINT = (
    "Who is paid: the referrer, the referred user, or the referrer's referrer (parent)."
)


@dataclass
class ActionOutcome:
    rewards: list[int] = field(default_factory=list)
    credits: list[int] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    limited: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ActionStep:
    """One planned action about to run, with what every action type needs to run it."""

    program: Program
    event: Event
    rule: Rule
    rule_version: RuleVersion
    action: dict[str, Any]  # the plan entry (rules.engine.plan)
    key: str
    actor: str
    metadata: dict[str, Any]
    limits: dict[str, Any]
    hold_reason: str = ""

    @property
    def index(self) -> int:
        return self.action["index"]


@dataclass(frozen=True)
class ParamField:
    """One parameter as the builder's form shows it.

    ``kind`` says which control: ``beneficiary`` (referrer, referred or parent), ``money``
    (major units in the form, minor units in the rule), ``currency``, ``choice`` (one of
    ``options``), ``integer``, ``basis_points``, ``numeric_field`` (a number field of the
    trigger) or ``text`` (with ``options`` as suggestions). ``empty`` is what the canvas shows
    when the param is unset; without it, a canvas line naming the param is left out.
    ``{currency}`` in a hint is the amount's currency."""

    name: str
    label: str
    kind: str
    hint: str = ""
    options: tuple[str, ...] = ()
    empty: str | None = None
    minimum: int | None = None

    def as_json(self, *, options: Sequence[str] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "label": self.label, "kind": self.kind}
        if self.hint:
            data["hint"] = self.hint
        chosen = list(self.options if options is None else options)
        if chosen:
            data["options"] = chosen
        if self.empty is not None:
            data["empty"] = self.empty
        if self.minimum is not None:
            data["minimum"] = self.minimum
        return data


BENEFICIARY = ParamField(
    "beneficiary",
    "Beneficiary",
    "beneficiary",
    hint=BENEFICIARY_FIELD_HINT,
    options=("referrer", "referred", "parent"),
)


@dataclass(frozen=True)
class CheckContext:
    """What semantic checks of an action's params may compare against."""

    catalog: dict[str, Any]
    trigger: str
    currency: str | None = None
    operations: Collection[str] | None = None


@dataclass(frozen=True)
class PlanContext:
    """The program's settings that planning reads."""

    currency: str
    direct_rate_bps: int | None = None
    override_rate_bps: int | None = None


@dataclass
class Planned:
    """An action's share of a plan entry: the keys it adds (amount, currency, ...) and the
    reason it cannot run, if any."""

    values: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None


class RuleAction:
    """An action type. Subclasses set the class attributes and override what they need."""

    type: ClassVar[str]
    label: ClassVar[str]
    # The params' JSON Schema; it may $ref the rule schema's shared $defs (beneficiary,
    # minor_units, reward_type).
    params_schema: ClassVar[dict[str, Any]]
    fields: ClassVar[tuple[ParamField, ...]] = (BENEFICIARY,)
    # The canvas's lines under "to <beneficiary>": "{param}" placeholders, read as their field.
    summary: ClassVar[tuple[str, ...]] = ()
    # Params that must be integers (JSON Schema's "integer" admits 500.0).
    integer_params: ClassVar[tuple[str, ...]] = ()
    # True when the plan's amount becomes a reward (limits apply; simulations count it).
    books_reward: ClassVar[bool] = False
    # Where the action comes in lists (the schema, the builder's palette), lower first.
    order: ClassVar[int] = 100
    # The offline drafter tries actions in this order (lower first).
    phrase_order: ClassVar[int] = 100

    def check(self, params: Mapping[str, Any], *, path: str, context: CheckContext) -> list[Error]:
        """Semantic errors of valid-shaped params (``path`` is ``$.actions[i].params``)."""
        return [
            {"path": f"{path}.{key}", "message": f"{key} must be an integer"}
            for key in self.integer_params
            if key in params and params[key].__class__ is not int
        ]

    def plan(
        self,
        params: Mapping[str, Any],
        facts: Mapping[str, Any],
        *,
        role: str,
        context: PlanContext,
    ) -> Planned:
        """What the action would do for these facts: pure, never an exception."""
        return Planned({"amount": None, "currency": None})

    def run(self, step: ActionStep, outcome: ActionOutcome) -> None:
        """Do the planned action (inside a savepoint) and record it in ``outcome``."""
        outcome.skipped.append(
            {"index": step.index, "type": self.type, "reason": f"{self.type} does not run"}
        )

    def explain(self, params: Mapping[str, Any], *, who: str, currency: str | None) -> str:
        """A clause of the rule's plain-English sentence: "give the referrer ₹500.00"."""
        return f"run {self.type}"

    def pays(self, params: Mapping[str, Any], *, who: str, currency: str) -> str:
        """The admin's publish page line: "the referrer: 500.00 INR (voucher) per event"."""
        return f"{who}: {self.type}"

    def draft(self, parser: PhraseReader, *, trigger: str) -> list[dict[str, Any]] | None:
        """Actions read from the sentence, or None when it does not speak of this action."""
        return None

    def defaults(self, *, currency: str) -> dict[str, Any]:
        """The params of a new action dragged onto the builder's canvas."""
        return {"beneficiary": "referrer"}

    def catalog_entry(
        self, *, currency: str, options: Mapping[str, Sequence[str]] | None = None
    ) -> dict[str, Any]:
        """The builder's description of the action (``options``: per-param choices that
        depend on the program, such as its credit operations)."""
        options = options or {}
        return {
            "type": self.type,
            "label": self.label,
            "defaults": self.defaults(currency=currency),
            "fields": [f.as_json(options=options.get(f.name)) for f in self.fields],
            "summary": list(self.summary),
        }


_ACTIONS: dict[str, RuleAction] = {}
_generation = 0


def register(action: RuleAction) -> RuleAction:
    """Add an action type; its name must be new."""
    global _generation
    if not _TYPE_RE.match(action.type):
        raise ValueError(f"action type {action.type!r} must match {_TYPE_RE.pattern}")
    if action.type in _ACTIONS:
        raise ValueError(f"action type {action.type!r} is already registered")
    _ACTIONS[action.type] = action
    _generation += 1
    return action


def unregister(action_type: str) -> None:
    global _generation
    del _ACTIONS[action_type]
    _generation += 1


def generation() -> int:
    """Changes whenever the registry does (what depends on it caches by this)."""
    return _generation


def action_for(action_type: Any) -> RuleAction | None:
    return _ACTIONS.get(action_type) if isinstance(action_type, str) else None


def registered() -> list[RuleAction]:
    """The actions in their ``order`` (then by type)."""
    return sorted(_ACTIONS.values(), key=lambda a: (a.order, a.type))


def autodiscover() -> None:
    """Import every module of the ``rules.actions`` package: each action module registers its
    action when it is imported (``ACTION = register(...)``), so a new action is one new module.
    Called from ``RulesConfig.ready()``, as django.contrib.admin discovers ``admin`` modules.
    The registry sits outside that package so that what it serves (validation, planning,
    explaining) can import it while the action modules import them."""
    package = importlib.import_module("rules.actions")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def actions_catalog(
    *, currency: str, options: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """Every action as the builder needs it: type, label, defaults, fields, canvas summary."""
    return [a.catalog_entry(currency=currency, options=options) for a in registered()]
