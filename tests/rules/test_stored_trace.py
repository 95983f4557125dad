"""The compact trace events store (Evaluation.stored_trace) expands back, against the rule's
definition alone, to exactly the list of dicts the trace reads as (expand_trace), on random
rules and facts, whichever generated path recorded it; and the readers of Event.results show
the same thing for both stored forms."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings

from rules.engine import RulesetEvaluation, compile_rule, compile_ruleset, expand_trace
from rules.engine.trace import Evaluation, is_compact_trace
from tests.ledger.operator_fixtures import groups as groups  # staff() needs it
from tests.ledger.operator_fixtures import staff as staff  # the staff(...) client fixture
from tests.rules.conftest import ALWAYS, rule_def

from .test_engine_traced import _strict, conditions, definitions, facts, leaf


def _roundtrip(value: Any) -> Any:
    """What a JSON column gives back (the facts here hold no datetime inside an object)."""
    return json.loads(json.dumps(value, default=str))


def _as_stored_before(definition: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """The same record in the form events stored before (``{"v": 1, "r", "a"}``)."""
    leaves, _ = compile_rule(definition).render.shape  # type: ignore[attr-defined]
    both = list(stored["v2"])
    return {"v": 1, "r": both[:leaves], "a": both[leaves:]}


def assert_expands(definition: dict[str, Any], evaluation: Evaluation) -> None:
    stored: Any = evaluation.stored_trace()
    assert is_compact_trace(stored)
    assert set(stored) == {"v2"} and isinstance(stored["v2"], tuple)
    leaves, fields = compile_rule(definition).render.shape  # type: ignore[attr-defined]
    assert len(stored["v2"]) == leaves + fields
    assert all(r is True or r is False for r in stored["v2"][:leaves])
    want = evaluation.trace
    got = expand_trace(definition, stored)
    assert [_strict(step) for step in got] == [_strict(step) for step in want]
    for mine, reference in zip(got, want, strict=True):
        assert mine["result"] is reference["result"]
    # Through the database's JSON: the same as the dict trace through it.
    assert _roundtrip(expand_trace(definition, _roundtrip(stored))) == _roundtrip(want)
    # Traces stored before this form (outcomes and values apart) still read the same.
    before = _as_stored_before(definition, stored)
    assert is_compact_trace(before) and is_compact_trace(_roundtrip(before))
    assert [_strict(step) for step in expand_trace(definition, before)] == [
        _strict(step) for step in want
    ]
    assert _roundtrip(expand_trace(definition, _roundtrip(before))) == _roundtrip(want)


@settings(max_examples=300, deadline=None)
@given(definitions, facts())
def test_expanding_the_stored_trace_gives_the_dict_trace(defs, fact):
    ruleset = compile_ruleset(defs).evaluate(fact)
    all_stored = ruleset.stored_traces()
    assert len(all_stored) == len(defs)
    again, stored_with_it = compile_ruleset(defs).evaluate_stored(fact)
    assert type(again) is RulesetEvaluation and type(stored_with_it) is tuple
    assert all(type(record) is dict for record in stored_with_it)
    assert again == ruleset and again.matched == ruleset.matched
    assert _strict(stored_with_it) == _strict(all_stored)
    for i, definition in enumerate(defs):
        # All at once (one call for the ruleset) stores what each rule stores alone.
        assert _strict(all_stored[i]) == _strict(ruleset[i].stored_trace())
        assert _strict(stored_with_it[i]) == _strict(again[i].stored_trace())
        assert [_strict(step) for step in expand_trace(definition, stored_with_it[i])] == [
            _strict(step) for step in ruleset[i].trace
        ]
        assert_expands(definition, ruleset[i])
        assert_expands(definition, compile_rule(definition).evaluate(fact))
        # Both paths store the same record for a rule.
        assert _strict(ruleset[i].stored_trace()) == _strict(
            compile_rule(definition).evaluate(fact).stored_trace()
        )


@settings(max_examples=100, deadline=None)
@given(conditions, facts())
def test_a_rule_repeated_in_a_ruleset_stores_its_own_record(condition, fact):
    definition = {"name": "r", "conditions": condition}
    other = {"name": "o", "conditions": {"operator": "NOT", "conditions": [condition]}}
    evaluation = compile_ruleset([other, definition, definition]).evaluate(fact)
    for i, d in ((0, other), (1, definition), (2, definition)):
        assert_expands(d, evaluation[i])
        assert _strict(evaluation.stored_traces()[i]) == _strict(evaluation[i].stored_trace())


def test_the_stored_form_is_small_and_reading_the_trace_does_not_change_it():
    definition = {
        "conditions": {
            "operator": "AND",
            "conditions": [
                leaf("event.plan", "equals", "gold"),
                {
                    "operator": "OR",
                    "conditions": [
                        leaf("event.when", "exists"),
                        leaf("event.plan", "equals", "gold"),
                    ],
                },
            ],
        }
    }
    evaluation = compile_rule(definition).evaluate(
        {"event": {"plan": "silver", "when": datetime(2026, 1, 2, tzinfo=UTC)}}
    )
    stored: Any = evaluation.stored_trace()
    # One outcome per distinct leaf, then one value per distinct field; datetimes as RFC 3339.
    assert stored == {"v2": (False, True, "silver", "2026-01-02T00:00:00+00:00")}
    assert _roundtrip(stored) == {"v2": [False, True, "silver", "2026-01-02T00:00:00+00:00"]}
    trace = evaluation.trace
    assert [step["result"] for step in trace] == [False, None, None]
    assert evaluation.stored_trace() == stored
    assert expand_trace(definition, stored) == trace
    assert expand_trace(definition, _roundtrip(stored)) == trace
    # The form stored before this one, as a database holds it, reads the same.
    before = {"v": 1, "r": [False, True], "a": ["silver", "2026-01-02T00:00:00+00:00"]}
    assert expand_trace(definition, before) == trace


def test_expand_reads_the_old_form_and_never_raises_on_damage():
    definition = {"conditions": leaf("event.plan", "equals", "gold")}
    old = [{"path": "$.conditions", "field": "event.plan", "result": False}]
    assert expand_trace(definition, old) is old
    good = compile_rule(definition).evaluate({"event": {"plan": "x"}}).stored_trace()
    assert expand_trace(definition, good)[0]["actual"] == "x"
    for damaged in (
        None,
        5,
        "x",
        {},
        {"v": 2, "r": [True], "a": ["x"]},
        {"v": 1, "r": [True, False], "a": ["x"]},  # more outcomes than leaves
        {"v": 1, "r": [True], "a": []},
        {"v": 1, "r": "T", "a": ["x"]},
        {"v2": None},
        {"v2": "Tx"},
        {"v2": [True]},  # fewer entries than leaves and fields
        {"v2": [True, "x", "y"]},  # more
        {"v2": [True, "x"], "v": 1, "r": [True], "a": ["x"]},  # two forms in one
        {"v3": [True, "x"]},
        {"v": 2, "t": [True, "x"]},
        {"v": 1, "t": [True, "x"]},
    ):
        assert expand_trace(definition, damaged) == []
    bad_definition: Any
    for bad_definition in (None, [], {"conditions": 5}, {"conditions": {"operator": "XOR"}}):
        assert expand_trace(bad_definition, good) == []
    # A stored outcome that is not a boolean reads as false, never as its truthiness.
    assert expand_trace(definition, {"v": 1, "r": [1], "a": ["gold"]})[0]["result"] is False
    assert expand_trace(definition, {"v2": [1, "gold"]})[0]["result"] is False
    assert expand_trace(definition, {"v2": [True, "gold"]})[0]["result"] is True


def test_a_hand_built_evaluation_stores_its_dicts():
    trace = [{"path": "$.conditions", "result": True}]
    assert Evaluation(True, trace).stored_trace() == trace


# --- the readers of Event.results, with both stored forms ---------------------------------


def _store_compactly(event: Any) -> Any:
    """Store a processed event's traces in the compact form, as processing does, rewriting any
    stored as dict lists (events processed before the compact form), and check that each
    expands back to the list it replaces."""
    from rules.models import Event, RuleVersion
    from rules.selectors import event_facts

    event = Event.objects.select_related("program").get(pk=event.pk)
    facts, _ = event_facts(event)
    results = []
    for entry in event.results:
        if isinstance(entry.get("trace"), list):
            definition = RuleVersion.objects.get(
                rule_id=entry["rule"], version=entry["version"]
            ).definition
            compact = _roundtrip(compile_rule(definition).evaluate(facts).stored_trace())
            assert is_compact_trace(compact)
            assert expand_trace(definition, compact) == entry["trace"]
            entry = {**entry, "trace": compact}
        results.append(entry)
    assert all(is_compact_trace(e["trace"]) for e in results if "trace" in e)
    Event.objects.filter(pk=event.pk).update(results=results)
    return Event.objects.get(pk=event.pk)


@pytest.fixture
def processed(program, publish, refer, ingest, process):
    """bob's event against three rules (one matches, two do not), stored with dict traces."""
    from rules.services.participants import participant_upsert

    participant_upsert(
        program=program, external_id="alice", attributes={"is_paid_user": False}, actor="t"
    )
    refer("alice", "bob")
    paid = leaf("referrer.is_paid_user", "equals", True)
    plan = leaf("event.plan", "in", ["gold", "silver"])
    publish(
        rule_def(
            name="Paid", priority=30, conditions={"operator": "AND", "conditions": [paid, plan]}
        )
    )
    publish(
        rule_def(
            name="Gold or paid",
            priority=20,
            conditions={"operator": "OR", "conditions": [plan, paid]},
        )
    )
    publish(rule_def(name="Always", priority=10, conditions=ALWAYS))
    when = datetime(2026, 6, 1, 12, tzinfo=UTC)
    return process(
        ingest("p-1", "subscription_started", "bob", data={"plan": "basic"}, occurred_at=when)
    )


@pytest.mark.django_db
def test_the_events_api_shows_a_compact_trace_as_the_dicts(processed, api, url):
    before = api.get(url("events/p-1")).json()
    listed_before = api.get(url("events")).json()["results"]
    explained_before = api.get(url("events/p-1/explain")).json()
    assert any(isinstance(r.get("trace"), list) and r["trace"] for r in before["results"])

    stored = _store_compactly(processed)
    assert all(is_compact_trace(r["trace"]) for r in stored.results if "trace" in r)

    assert api.get(url("events/p-1")).json() == before
    assert api.get(url("events")).json()["results"] == listed_before
    explained = api.get(url("events/p-1/explain")).json()
    assert explained == explained_before
    assert "did not match: the referrer is not a paid user" in " ".join(explained["sentences"])


@pytest.mark.django_db
def test_the_versions_are_read_in_one_query_for_a_page_of_events(
    processed, ingest, process, api, url
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from rules.event_explain import expand_event_traces
    from rules.models import Event

    second = process(ingest("p-2", "subscription_started", "bob", data={"plan": "gold"}))
    _store_compactly(processed)
    _store_compactly(second)
    events = list(Event.objects.all())
    with CaptureQueriesContext(connection) as captured:
        expand_event_traces(events)
    assert len(captured) == 1
    for event in events:
        assert all(isinstance(r["trace"], list) for r in event.results if "trace" in r)
    # Already lists: nothing to read.
    with CaptureQueriesContext(connection) as captured:
        expand_event_traces(events)
    assert len(captured) == 0


@pytest.mark.django_db
def test_a_compact_trace_whose_version_is_gone_or_damaged_reads_as_empty(processed, api, url):
    from rules.models import Event

    stored = _store_compactly(processed)
    results = [dict(r) for r in stored.results]
    results[0]["version"] = 99  # no such version
    results[1]["trace"] = {"v": 1, "r": [True] * 50, "a": []}  # does not fit its version
    Event.objects.filter(pk=stored.pk).update(results=results)

    body = api.get(url("events/p-1")).json()
    assert body["results"][0]["trace"] == [] and body["results"][1]["trace"] == []
    explained = api.get(url("events/p-1/explain"))
    assert explained.status_code == 200
    assert "did not match its conditions" in " ".join(explained.json()["sentences"])


@pytest.mark.django_db
def test_the_admin_event_page_explains_a_compact_trace(processed, staff):
    from django.urls import reverse

    _store_compactly(processed)
    html = (
        staff("olga", "operators")
        .get(reverse("admin:rules_event_change", args=[processed.pk]))
        .content.decode()
    )
    assert "Rule &#x27;Paid&#x27; did not match: the referrer is not a paid user" in html
