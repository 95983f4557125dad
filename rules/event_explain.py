"""Why an event paid, or did not: its stored results (rules.services.processing) as sentences.

``event_explanation(event)`` reads what the sentences need in a constant number of queries
(the rule versions that ran, the rewards and credit entries they made) and returns the body of
``GET P/events/{id}/explain``, which the admin's event page shows too:

    {"event": "p-1", "status": "processed",
     "sentences": ["Event 'p-1' (subscription_started) was processed ...", ...],
     "rules": [{"rule": 3, "name": "Premium referral", "version": 2,
                "outcome": "not_matched",
                "sentence": "Rule 'Premium referral' did not match: the referrer is not a "
                            "paid user"}]}

Each result entry has an "outcome": "matched" | "not_matched" | "suppressed" (with
"suppressed_by") | "skipped" (with "reason": "not_yet_active" | "expired"). Entries stored
before outcomes were recorded have only "matched" (and a trace); they read as matched or not
matched, and the summary says that rules after a stopping rule were not recorded then.

A non-match names the conditions that decided it, read from the stored trace (the compact
form rules.engine.expand_trace rebuilds, or the list of dicts stored before) against the
version's conditions: the failing leaf of an AND, every leaf of a failed OR, the leaf that held
under a NOT. Nothing here raises on a malformed entry: a sentence says what is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from django.db.models import Q

from rules.catalog import catalog_for, money_fields
from rules.engine import expand_trace
from rules.engine.trace import is_compact_trace
from rules.explain import format_money, leaf_sentence
from rules.models import Event, RewardLink, Rule, RuleVersion
from rules.rewards.models import CreditEntry, Reward
from rules.selectors import rules_config_get

_ROLES: Final = {
    "referrer": "the referrer",
    "referred": "the referred user",
    "parent": "the referrer's referrer",
}
# A non-match names at most this many conditions (then "and N more").
MAX_REASONS: Final = 4
MAX_ERROR: Final = 300
MAX_ID: Final = 2**63 - 1
Outcome = str


def _join(parts: list[str], word: str) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} {word} {parts[-1]}"


# --- reading ------------------------------------------------------------------------------


def _is_id(value: Any) -> bool:
    """A row id as stored results hold them (a database integer: anything else is looked up
    nowhere, so a damaged entry cannot break the query)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def _list(entry: Mapping[str, Any], key: str) -> list[Any]:
    value = entry.get(key)
    return value if isinstance(value, list) else []


def _rule_pk(entry: Mapping[str, Any]) -> int | None:
    value = entry.get("rule")
    return value if _is_id(value) else None


def _ids(entries: Iterable[Mapping[str, Any]], key: str) -> set[int]:
    out: set[int] = set()
    for entry in entries:
        values = entry.get(key)
        if isinstance(values, list):
            out.update(value for value in values if _is_id(value))
    return out


class _Context:
    """What the sentences read, fetched once per event."""

    def __init__(self, event: Event, entries: list[Mapping[str, Any]]) -> None:
        self.currency: str = event.program.currency
        self.trigger: str = event.type
        self.money: frozenset[str] | None = None  # read when a non-match needs words
        self._program = event.program
        rule_pks = {pk for pk in map(_rule_pk, entries) if pk is not None}
        self.rule_names: dict[int, str] = dict(
            Rule.objects.filter(pk__in=rule_pks, program_id=event.program_id).values_list(
                "pk", "name"
            )
        )
        self.definitions: dict[tuple[int, int], dict[str, Any]] = {}
        wanted = {
            (pk, entry.get("version"))
            for entry in entries
            if (pk := _rule_pk(entry)) is not None and _is_id(entry.get("version"))
        }
        if wanted:
            for rule_id, version, definition in RuleVersion.objects.filter(
                rule_id__in=self.rule_names, version__in={v for _, v in wanted}
            ).values_list("rule_id", "version", "definition"):
                if (rule_id, version) in wanted and isinstance(definition, dict):
                    self.definitions[(rule_id, version)] = definition
        reward_ids = _ids(entries, "rewards")
        self.rewards: dict[int, Reward] = (
            Reward.objects.filter(program_id=event.program_id).in_bulk(reward_ids)
            if reward_ids
            else {}
        )
        self.action_of: dict[int, int] = (
            dict(
                RewardLink.objects.filter(reward_id__in=self.rewards).values_list(
                    "reward_id", "action_index"
                )
            )
            if self.rewards
            else {}
        )
        credit_ids = _ids(entries, "credits")
        self.credits: dict[int, CreditEntry] = (
            CreditEntry.objects.filter(program_id=event.program_id).in_bulk(credit_ids)
            if credit_ids
            else {}
        )

    def name(self, entry: Mapping[str, Any]) -> str:
        pk = _rule_pk(entry)
        definition = self.definition(entry)
        name = definition.get("name") if definition else None
        if not isinstance(name, str) or not name:
            name = self.rule_names.get(pk) if pk is not None else None
        return name or (f"#{pk}" if pk is not None else "(unknown rule)")

    def definition(self, entry: Mapping[str, Any]) -> dict[str, Any] | None:
        pk, version = _rule_pk(entry), entry.get("version")
        if pk is None or not isinstance(version, int):
            return None
        return self.definitions.get((pk, version))

    def money_paths(self) -> frozenset[str]:
        """The money fields of the event's trigger (the program's catalog), read once."""
        if self.money is None:
            custom = rules_config_get(program=self._program).custom_catalog or None
            self.money = money_fields(catalog_for(custom), self.trigger)
        return self.money

    def name_of_rule(self, pk: Any, names: Mapping[int, str]) -> str:
        if isinstance(pk, int) and pk in names:
            return names[pk]
        return self.rule_names.get(pk, f"#{pk}") if isinstance(pk, int) else "another rule"


# --- words --------------------------------------------------------------------------------


def _when(value: datetime) -> str:
    """7 December 2026, or with the time when it is not midnight: "7 December 2026, 09:30
    UTC+05:30" (in the value's own offset: a schedule reads as it was written)."""
    text = f"{value.day} {value:%B %Y}"
    if (value.hour, value.minute, value.second) != (0, 0, 0):
        offset = value.utcoffset() or timedelta(0)
        if offset:
            total = int(offset.total_seconds()) // 60
            sign = "+" if total >= 0 else "-"
            zone = f"UTC{sign}{abs(total) // 60:02d}:{abs(total) % 60:02d}"
        else:
            zone = "UTC"
        text += f", {value:%H:%M} {zone}"
    return text


def _instant_words(text: Any) -> str:
    if isinstance(text, str):
        try:
            return _when(datetime.fromisoformat(text))
        except ValueError:
            pass
    return str(text)


def _quote(name: str) -> str:
    return f"'{name}'"


def _truncate(text: str, limit: int = MAX_ERROR) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# --- why a rule did not match -------------------------------------------------------------


def _is_leaf(node: Any) -> bool:
    return isinstance(node, dict) and "conditions" not in node


def _children(node: Mapping[str, Any], path: str) -> list[tuple[Any, str]]:
    children = node.get("conditions")
    if not isinstance(children, list):
        return []
    return [(child, f"{path}.conditions[{i}]") for i, child in enumerate(children)]


def _value(node: Any, path: str, results: Mapping[str, Any]) -> bool | None:
    """The node's truth as the trace recorded it; None where short-circuiting skipped it."""
    if not isinstance(node, dict):
        return None
    if _is_leaf(node):
        result = results.get(path)
        return result if isinstance(result, bool) else None
    values = [_value(child, p, results) for child, p in _children(node, path)]
    operator = node.get("operator")
    if operator == "NOT":
        return None if not values or values[0] is None else not values[0]
    if operator == "OR":
        if True in values:
            return True
        return False if all(v is False for v in values) else None
    if False in values:
        return False
    return True if all(v is True for v in values) else None


def _deciding(
    node: Any, path: str, want: bool, results: Mapping[str, Any]
) -> list[tuple[dict[str, Any], bool, str]]:
    """The leaves that made `node` come out `want`: (leaf, whether it held, its path)."""
    if not isinstance(node, dict):
        return []
    if _is_leaf(node):
        return [(node, want, path)]
    children = _children(node, path)
    if node.get("operator") == "NOT":
        return _deciding(children[0][0], children[0][1], not want, results) if children else []
    settles = node.get("operator") == "OR"  # the value that settles the group early
    out = []
    for child, child_path in children:
        # An OR that held, an AND that failed: the children that settled it; an AND that
        # held, an OR that failed: every child.
        if want is not settles or _value(child, child_path, results) is want:
            out.extend(_deciding(child, child_path, want, results))
    return out


def _leaf_words(leaf: dict[str, Any], held: bool, actual: Any, ctx: _Context) -> str:
    try:
        text = leaf_sentence(
            leaf,
            currency=ctx.currency,
            negated=not held,
            trigger=ctx.trigger,
            money=ctx.money_paths(),
        )
    except Exception:  # a malformed stored leaf still gets words
        text = f"{leaf.get('field')} {leaf.get('operator')} {leaf.get('value')!r}"
        return text if held else f"not ({text})"
    if not held and actual is None and leaf.get("operator") not in ("exists", "not_exists"):
        text += " (it has no value)"
    return text


def not_matched_reasons(
    definition: Mapping[str, Any] | None, trace: Any, ctx: _Context
) -> list[str]:
    """The conditions that kept a rule from matching, as words (empty when unknown)."""
    if is_compact_trace(trace):
        trace = expand_trace(definition, trace)
    steps = [s for s in trace if isinstance(s, dict)] if isinstance(trace, list) else []
    results = {s["path"]: s.get("result") for s in steps if isinstance(s.get("path"), str)}
    actuals = {s["path"]: s.get("actual") for s in steps if isinstance(s.get("path"), str)}
    conditions = definition.get("conditions") if definition else None
    leaves: list[tuple[dict[str, Any], bool, Any]] = []
    if isinstance(conditions, dict) and steps:
        for leaf, held, path in _deciding(conditions, "$.conditions", False, results):
            leaves.append((leaf, held, actuals.get(path)))
    else:
        # Without the version's conditions: the leaves the trace says were false.
        for step in steps:
            if step.get("result") is False:
                leaf = {
                    "field": step.get("field"),
                    "operator": step.get("operator"),
                    "value": step.get("expected"),
                }
                leaves.append((leaf, False, step.get("actual")))
    words: list[str] = []
    for leaf, held, actual in leaves:
        text = _leaf_words(leaf, held, actual, ctx)
        if text not in words:
            words.append(text)
    return words


# --- the stored results as the API shows them ---------------------------------------------


def expand_event_traces(events: Iterable[Event]) -> None:
    """Rebuild each compact stored trace of these events' results as the list of per-leaf
    dicts (rules.engine.expand_trace), in memory only, so GET P/events shows the same
    shape whichever form was stored. One query reads the rule versions for all of them; an
    entry whose version cannot be found (or whose trace does not fit it) shows an empty
    trace. Traces stored as lists are left as they are."""
    events = list(events)
    wanted: dict[int, set[tuple[int, int]]] = {}
    for event in events:
        for entry in event.results if isinstance(event.results, list) else ():
            if isinstance(entry, dict) and is_compact_trace(entry.get("trace")):
                pk, version = _rule_pk(entry), entry.get("version")
                if pk is not None and isinstance(version, int) and _is_id(version):
                    wanted.setdefault(event.program_id, set()).add((pk, version))
    definitions: dict[tuple[Any, ...], Any] = {}
    if wanted:
        query = Q()
        for program_id, pairs in wanted.items():
            query |= Q(
                rule__program_id=program_id,
                rule_id__in={pk for pk, _ in pairs},
                version__in={v for _, v in pairs},
            )
        for program_id, rule_id, version, definition in RuleVersion.objects.filter(
            query
        ).values_list("rule__program_id", "rule_id", "version", "definition"):
            definitions[(program_id, rule_id, version)] = definition
    for event in events:
        if not isinstance(event.results, list):
            continue
        results = []
        for entry in event.results:
            if isinstance(entry, dict) and is_compact_trace(entry.get("trace")):
                key = (event.program_id, entry.get("rule"), entry.get("version"))
                entry = {**entry, "trace": expand_trace(definitions.get(key), entry["trace"])}
            results.append(entry)
        event.results = results


# --- one rule -----------------------------------------------------------------------------


def outcome_of(entry: Mapping[str, Any]) -> Outcome:
    """The entry's outcome; entries stored before outcomes existed have only "matched"."""
    outcome = entry.get("outcome")
    if outcome in ("matched", "not_matched", "suppressed", "skipped"):
        return outcome
    return "matched" if entry.get("matched") is True else "not_matched"


def _who(definition: Mapping[str, Any] | None, action_index: Any, fallback: str) -> str:
    """The beneficiary's role in the rule's action ("the referrer"), else `fallback`."""
    actions = definition.get("actions") if definition else None
    if not isinstance(actions, list) or not isinstance(action_index, int):
        return fallback
    action = actions[action_index] if 0 <= action_index < len(actions) else None
    params = action.get("params") if isinstance(action, dict) else None
    if isinstance(params, dict):
        return _ROLES.get(params.get("beneficiary") or "referrer", fallback)
    return fallback


def _paid(entry: Mapping[str, Any], ctx: _Context) -> tuple[list[str], list[str]]:
    """What a matched rule did ("₹500.00 to the referrer (reward 12, pending)") and what it
    did not (limits, skipped actions, a fraud hold)."""
    definition = ctx.definition(entry)
    done: list[str] = []
    for reward_id in _list(entry, "rewards"):
        reward = ctx.rewards.get(reward_id) if isinstance(reward_id, int) else None
        if reward is None:
            done.append(f"reward {reward_id}")
            continue
        who = _who(definition, ctx.action_of.get(reward.pk), reward.beneficiary)
        done.append(
            f"{format_money(reward.amount, reward.currency)} to {who} "
            f"(reward {reward.pk}, {reward.status.replace('_', ' ')})"
        )
    for entry_id in _list(entry, "credits"):
        credit = ctx.credits.get(entry_id) if isinstance(entry_id, int) else None
        if credit is None:
            done.append(f"credits (entry {entry_id})")
        else:
            done.append(
                f"{credit.amount:,} credits to {credit.owner_id} "
                f"(entry {credit.pk}, {credit.operation})"
            )
    not_done: list[str] = []
    for limited in _list(entry, "limited"):
        if not isinstance(limited, dict):
            continue
        amount = limited.get("amount")
        what = format_money(amount, ctx.currency) if isinstance(amount, int) else "a reward"
        who = _who(definition, limited.get("index"), str(limited.get("beneficiary", "someone")))
        not_done.append(f"{what} to {who} was not paid: {limited.get('reason', 'a limit')}")
    for skipped in _list(entry, "skipped"):
        if not isinstance(skipped, dict):
            continue
        index = skipped.get("index")
        number = index + 1 if isinstance(index, int) else "?"
        not_done.append(
            f"action {number} ({skipped.get('type')}) was skipped: "
            f"{_truncate(str(skipped.get('reason', 'no reason given')))}"
        )
    if entry.get("held"):
        not_done.append(f"its rewards are held for review: {entry['held']}")
    return done, not_done


def rule_sentence(
    entry: Mapping[str, Any], ctx: _Context, names: Mapping[int, str], occurred_at: datetime
) -> str:
    name = _quote(ctx.name(entry))
    outcome = outcome_of(entry)
    if outcome == "matched":
        done, not_done = _paid(entry, ctx)
        if done:
            text = f"Rule {name} matched and paid {_join(done, 'and')}"
        else:
            text = f"Rule {name} matched but paid nothing"
        if not_done:
            text += "; " + "; ".join(not_done)
        return text
    if outcome == "not_matched":
        reasons = not_matched_reasons(ctx.definition(entry), entry.get("trace"), ctx)
        if not reasons:
            return f"Rule {name} did not match its conditions"
        shown = reasons[:MAX_REASONS]
        if len(reasons) > MAX_REASONS:
            shown.append(_plural(len(reasons) - MAX_REASONS, "more condition"))
        return f"Rule {name} did not match: {_join(shown, 'and')}"
    if outcome == "suppressed":
        by = _quote(ctx.name_of_rule(entry.get("suppressed_by"), names))
        return f"Rule {name} was not evaluated: rule {by} matched first and stops other rules"
    reason = entry.get("reason")
    event_day = _when(occurred_at)
    if reason == "not_yet_active":
        start = _instant_words(entry.get("active_from"))
        return (
            f"Rule {name} was skipped: it is active from {start} "
            f"(the event occurred on {event_day})"
        )
    if reason == "expired":
        end = _instant_words(entry.get("active_until"))
        return (
            f"Rule {name} was skipped: it was active until {end} "
            f"(the event occurred on {event_day})"
        )
    return f"Rule {name} was skipped" + (f": {reason}" if reason else "")


# --- the event ----------------------------------------------------------------------------


def _summary(event: Event, entries: list[Mapping[str, Any]]) -> str:
    label = f"Event {_quote(event.event_id)} ({event.type})"
    if event.status == Event.Status.RECEIVED:
        if event.attempts and event.error:
            retry = f" at {_when(event.next_attempt_at)}" if event.next_attempt_at else ""
            return (
                f"{label} has not been processed yet: attempt {event.attempts} failed "
                f"({_truncate(event.error)}) and it will be tried again{retry}."
            )
        return f"{label} has not been processed yet: it is waiting for a worker."
    if event.status == Event.Status.PROCESSING:
        return f"{label} is being processed now (attempt {event.attempts})."
    if event.status == Event.Status.FAILED:
        return (
            f"{label} failed after {_plural(event.attempts, 'attempt')}"
            f" ({_truncate(event.error or 'no error recorded')}), so no rule paid anything for it."
        )
    if not entries:
        return (
            f"{label} was processed when no rule was active for {event.type} events, "
            "so nothing was paid."
        )
    counts: dict[str, int] = {}
    for entry in entries:
        outcome = outcome_of(entry)
        counts[outcome] = counts.get(outcome, 0) + 1
    parts = []
    for outcome, words in (
        ("matched", "matched"),
        ("not_matched", "did not match"),
        ("suppressed", "not evaluated"),
        ("skipped", "skipped"),
    ):
        if counts.get(outcome):
            parts.append(f"{counts[outcome]} {words}")
    return (
        f"{label} was processed against {_plural(len(entries), 'active rule')}: "
        f"{_join(parts, 'and')}."
    )


def _refund_sentence(refund: Any) -> str | None:
    if not isinstance(refund, dict):
        return None
    original = refund.get("original_event")
    parts = []
    for key, words in (
        ("reversed", "reversed"),
        ("already_reversed", "were already reversed"),
        ("left_for_clawback", "were paid and are left for a clawback"),
    ):
        ids = refund.get(key) or []
        if ids:
            listed = ", ".join(str(i) for i in ids)
            if key == "reversed":
                parts.append(f"reversed {'reward' if len(ids) == 1 else 'rewards'} {listed}")
            else:
                parts.append(f"{'reward' if len(ids) == 1 else 'rewards'} {listed} {words}")
    if refund.get("note"):
        parts.append(str(refund["note"]))
    if not parts:
        parts.append("nothing to reverse")
    return f"As a refund of event {_quote(str(original))}, it {_join(parts, 'and')}."


def event_explanation(event: Event) -> dict[str, Any]:
    """The body of GET P/events/{id}/explain for an event (its program loaded or loadable)."""
    raw = event.results if event.status == Event.Status.PROCESSED else []
    # Stored results are a list of dicts; anything else (tampered, truncated) explains as empty.
    entries: list[Mapping[str, Any]] = [
        e for e in (raw if isinstance(raw, list) else ()) if isinstance(e, dict)
    ]
    ctx = _Context(event, entries)
    names = {pk: ctx.name(e) for e in entries if (pk := _rule_pk(e)) is not None}
    sentences = [_summary(event, entries)]
    rules = []
    for entry in entries:
        sentence = rule_sentence(entry, ctx, names, event.occurred_at) + "."
        sentences.append(sentence)
        rules.append(
            {
                "rule": _rule_pk(entry),
                "name": ctx.name(entry),
                "version": entry.get("version"),
                "outcome": outcome_of(entry),
                "sentence": sentence,
            }
        )
    if entries and not any("outcome" in e for e in entries):
        sentences.append(
            "This event was processed before skipped and suppressed rules were recorded: "
            "rules after one that stops other rules are not listed."
        )
    refund = _refund_sentence(event.refund) if event.status == Event.Status.PROCESSED else None
    if refund:
        sentences.append(refund)
    return {"event": event.event_id, "status": event.status, "sentences": sentences, "rules": rules}
