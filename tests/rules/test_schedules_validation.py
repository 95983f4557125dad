"""Rule schedules (issue 15 item 5): active_from / active_until in the definition, checked with
clear rule_invalid errors whatever the value; description stays optional text."""

from __future__ import annotations

import pytest

from rules.models import Rule, RuleVersion
from rules.validation import schedule_bounds, validate_definition
from tests.rules.conftest import SPEC_RULE, rule_def

pytestmark = pytest.mark.django_db


def errors_of(program, **changes) -> list[dict]:
    from rules.services.rules import program_catalog

    return validate_definition(rule_def(**changes), catalog=program_catalog(program=program))


def test_a_schedule_with_offsets_is_valid_and_read_in_utc(program):
    definition = rule_def(
        active_from="2026-01-01T05:30:00+05:30", active_until="2026-02-01T00:00:00Z"
    )
    assert errors_of(program, **{k: definition[k] for k in ("active_from", "active_until")}) == []
    start, end = schedule_bounds(definition)
    assert start is not None and end is not None
    assert (start.isoformat(), end.isoformat()) == (
        "2026-01-01T00:00:00+00:00",
        "2026-02-01T00:00:00+00:00",
    )
    assert schedule_bounds(SPEC_RULE) == (None, None)


def test_only_one_bound_is_fine(program):
    assert errors_of(program, active_from="2026-01-01T00:00:00Z") == []
    assert errors_of(program, active_until="2026-01-01T00:00:00-08:00") == []


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01T00:00:00",  # no offset
        "2026-01-01",  # a date, no time
        "2026-02-30T00:00:00Z",  # no such day
        "0000-01-01T00:00:00Z",  # year 0
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after 9999 in UTC
        "2026-01-01T00:00:00+16:00",  # no such offset
        "2026-01-01T00:00:00\x00Z",  # NUL
        "next tuesday",
        "",
    ],
)
def test_a_bad_time_is_a_clear_error(program, value):
    for key in ("active_from", "active_until"):
        errors = errors_of(program, **{key: value})
        assert [e["path"] for e in errors] == [f"$.{key}"], errors
        assert "RFC 3339" in errors[0]["message"]


@pytest.mark.parametrize("value", [20260101, None, True, ["2026-01-01T00:00:00Z"], {"a": 1}])
def test_a_time_of_the_wrong_type_is_an_error(program, value):
    errors = errors_of(program, active_from=value)
    assert [e["path"] for e in errors] == ["$.active_from"]


def test_a_huge_string_is_refused_by_the_schema(program):
    errors = errors_of(program, active_until="2026-01-01T00:00:00Z" + " " * 1_000_000)
    assert [e["path"] for e in errors] == ["$.active_until"]
    assert errors_of(program, description="x" * 2001)[0]["path"] == "$.description"
    assert errors_of(program, description="Pays Gold partners 15%.") == []


@pytest.mark.parametrize(
    "until", ["2026-01-01T00:00:00Z", "2025-12-31T23:59:59Z", "2026-01-01T05:30:00+05:30"]
)
def test_until_must_be_after_from(program, until):
    errors = errors_of(program, active_from="2026-01-01T00:00:00Z", active_until=until)
    assert errors == [
        {"path": "$.active_until", "message": "active_until must be after active_from"}
    ]


def test_the_api_refuses_a_bad_schedule_and_writes_nothing(api, url):
    counts = (Rule.objects.count(), RuleVersion.objects.count())
    body = rule_def(active_from="2026-03-01T00:00:00Z", active_until="2026-02-01T00:00:00Z")
    response = api.post(url("rules"), body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "rule_invalid"
    assert response.json()["errors"][0]["path"] == "$.active_until"
    assert (Rule.objects.count(), RuleVersion.objects.count()) == counts
    nul = api.post(url("rules"), rule_def(active_from="2026-01-01T00:00:00\u0000Z"), format="json")
    assert nul.status_code == 400
    assert (Rule.objects.count(), RuleVersion.objects.count()) == counts


def test_a_scheduled_rule_is_saved_and_published(api, url):
    body = rule_def(active_from="2026-01-01T00:00:00Z", active_until="2027-01-01T00:00:00Z")
    created = api.post(url("rules"), body, format="json")
    assert created.status_code == 201, created.content
    rule_id = created.json()["id"]
    assert created.json()["definition"]["active_until"] == "2027-01-01T00:00:00Z"
    assert api.post(url(f"rules/{rule_id}/publish"), {}, format="json").status_code == 200
