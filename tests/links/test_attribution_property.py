"""Property: attribution over random clicks and events matches a plain-Python model of
first/last click within the window (rules/links/attribution.py's rules, restated simply)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.platform.models import Program
from rules.links.models import Click
from rules.models import Referral
from rules.rewards.services.programs import program_create
from rules.services.events import event_ingest
from rules.services.participants import participant_get_or_create

pytestmark = pytest.mark.django_db

PEOPLE = ["ann", "ben", "cat", "dan"]
VISITORS = ["v1", "v2"]
WINDOW = 10
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class ModelClick:
    id: str
    partner: str
    visitor: str
    at: datetime


clicks_st = st.lists(
    st.tuples(st.sampled_from(PEOPLE), st.sampled_from(VISITORS), st.integers(0, 40 * 24)),
    min_size=1,
    max_size=8,
    unique_by=lambda c: c[2],  # distinct times: "earliest" has one answer
)
events_st = st.lists(
    st.tuples(st.sampled_from(PEOPLE), st.integers(-1, 7), st.integers(0, 60 * 24)),
    min_size=1,
    max_size=8,
)


def expected(model: str, clicks: list[ModelClick], events) -> list[tuple[str, str | None]]:
    referrer: dict[str, str] = {}
    out: list[tuple[str, str | None]] = []
    for user, index, at in events:
        if user in referrer:
            out.append(("already_referred", None))
            continue
        if index < 0 or index >= len(clicks):
            out.append(("unknown", None))
            continue
        click = clicks[index]
        since = at - timedelta(days=WINDOW)
        if click.at < since:
            out.append(("expired", None))
            continue
        winner = click
        if model == "first_click":
            same = [c for c in clicks if c.visitor == click.visitor and since <= c.at <= click.at]
            winner = min(same, key=lambda c: c.at)
        partner = winner.partner
        if partner == user:
            out.append(("self", None))
            continue
        chain, node = [], partner
        while node is not None:
            chain.append(node)
            node = referrer.get(node)
        if user in chain:
            out.append(("cycle", None))
            continue
        referrer[user] = partner
        out.append(("attributed", partner))
    return out


class Rollback(Exception):
    pass


@pytest.mark.parametrize("model", ["first_click", "last_click"])
def test_attribution_matches_the_model(model):
    program, _ = program_create(slug=f"prop-{model[:5]}", name="Prop", currency="INR")
    Program.objects.filter(pk=program.pk).update(
        attribution_model=model, attribution_window_days=WINDOW
    )
    program.refresh_from_db()
    people = {
        name: participant_get_or_create(program=program, external_id=name, actor="t")[0]
        for name in PEOPLE
    }

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(clicks_st, events_st)
    def check(raw_clicks, raw_events):
        try:
            with transaction.atomic():
                clicks = []
                for partner, visitor, minutes in raw_clicks:
                    row = Click.objects.create(
                        program=program,
                        participant=people[partner],
                        visitor_hash=visitor,
                        at=T0 + timedelta(minutes=minutes),
                    )
                    clicks.append(ModelClick(str(row.id), partner, visitor, row.at))
                events = [(u, i, T0 + timedelta(minutes=m)) for u, i, m in raw_events]
                want = expected(model, clicks, events)
                got = []
                for n, (user, index, at) in enumerate(events):
                    click_id = clicks[index].id if 0 <= index < len(clicks) else str(uuid.uuid4())
                    event, _ = event_ingest(
                        program=program,
                        event_id=f"e-{n}",
                        type="purchase",
                        user=user,
                        occurred_at=at,
                        click_id=click_id,
                        actor="t",
                    )
                    attribution = event.attribution
                    assert attribution is not None  # a click_id always gets a result
                    status = attribution["status"]
                    got.append(
                        (status, attribution.get("referrer") if status == "attributed" else None)
                    )
                assert got == want
                referrals = {
                    r.referred.external_id: r.referrer.external_id
                    for r in Referral.objects.filter(program=program).select_related(
                        "referrer", "referred"
                    )
                }
                assert referrals == {
                    user: partner
                    for (user, _, _), (status, partner) in zip(events, want, strict=True)
                    if status == "attributed"
                }
                raise Rollback
        except Rollback:
            pass

    check()
