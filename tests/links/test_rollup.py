"""Daily roll-ups are recomputed from raw clicks (correct and idempotent) and raw clicks past
CLICK_RETENTION_DAYS are purged whole days at a time, after their day is rolled up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.conf import settings
from django.test import override_settings

from rules.links.models import Click, ClickDaily, ProgramClickDaily
from rules.links.services.links import referral_link_create
from rules.links.services.rollup import clicks_purge, clicks_rollup_day, clicks_rollup_recent
from rules.links.tasks import clicks_purge_old, clicks_rollup
from rules.rewards.services.programs import program_create
from rules.services.participants import participant_get_or_create

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def add(participant, at, visitor="v1", bot=False, link=None):
    return Click.objects.create(
        at=at,
        program_id=participant.program_id,
        participant=participant,
        link=link,
        visitor_hash=visitor,
        is_bot=bot,
    )


def daily(participant, day, link=None):
    return ClickDaily.objects.get(participant=participant, day=day, link=link)


def test_rollup_counts_clicks_unique_visitors_and_bots(alice, shop):
    link = referral_link_create(participant=alice, slug="x", actor="t")
    bob = participant_get_or_create(program=shop, external_id="bob", actor="t")[0]
    day = NOW.date()
    for visitor in ("a", "a", "b", "c"):
        add(alice, NOW, visitor)
    add(alice, NOW, "a", bot=True)
    add(alice, NOW, "z", bot=True)
    add(alice, NOW, "a", link=link)
    add(bob, NOW, "a")
    add(alice, NOW - timedelta(days=1), "a")  # another day
    add(alice, datetime(2026, 6, 15, 23, 59, 59, 999999, tzinfo=UTC), "d")  # same day, late
    add(alice, datetime(2026, 6, 16, 0, 0, tzinfo=UTC), "e")  # the next day
    assert clicks_rollup_day(day) == 3
    row = daily(alice, day)
    assert (row.clicks, row.unique_clicks, row.bot_clicks) == (5, 4, 2)
    assert (daily(alice, day, link).clicks, daily(bob, day).clicks) == (1, 1)
    assert row.program_id == shop.pk
    # Idempotent: a rerun gives the same rows, and new clicks are picked up.
    assert clicks_rollup_day(day) == 3
    add(alice, NOW, "f")
    clicks_rollup_day(day)
    row = daily(alice, day)
    assert (row.clicks, row.unique_clicks) == (6, 5)
    assert ClickDaily.objects.filter(day=day).count() == 3
    # Totals equal the raw count.
    raw = Click.objects.filter(at__date=day).count()
    rolled = sum(r.clicks + r.bot_clicks for r in ClickDaily.objects.filter(day=day))
    assert raw == rolled
    # The program's row is the sum of its partners' rows, rewritten with them.
    total = ProgramClickDaily.objects.get(program=shop, day=day)
    assert (total.clicks, total.unique_clicks, total.bot_clicks) == (8, 7, 2)
    assert ProgramClickDaily.objects.filter(day=day).count() == 1


def test_program_rollup_follows_the_partner_rollups(alice, shop):
    other, _ = program_create(slug="other", name="Other", currency="INR")
    carol = participant_get_or_create(program=other, external_id="carol", actor="t")[0]
    day = NOW.date()
    add(alice, NOW, "a")
    add(alice, NOW, "b", bot=True)
    add(carol, NOW, "a")
    add(carol, NOW, "c")
    clicks_rollup_day(day)
    rows = {r.program_id: r for r in ProgramClickDaily.objects.filter(day=day)}
    assert (rows[shop.pk].clicks, rows[shop.pk].bot_clicks) == (1, 1)
    assert (rows[other.pk].clicks, rows[other.pk].unique_clicks) == (2, 2)
    # A day whose clicks are gone (none left) has no program row either.
    Click.objects.filter(at__date=day).delete()
    clicks_rollup_day(day)
    assert not ProgramClickDaily.objects.filter(day=day).exists()


def test_periodic_rollup_does_today_and_yesterday(alice):
    add(alice, NOW, "a")
    add(alice, NOW - timedelta(days=1), "a")
    add(alice, NOW - timedelta(days=2), "a")
    clicks_rollup_recent(now=NOW)
    assert set(ClickDaily.objects.values_list("day", flat=True)) == {
        date(2026, 6, 15),
        date(2026, 6, 14),
    }


def test_tasks_are_scheduled_and_callable(alice):
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["rules.clicks_rollup"]["task"] == "rules.clicks_rollup"
    assert schedule["rules.clicks_purge"]["task"] == "rules.clicks_purge"
    add(alice, datetime.now(UTC), "a")
    assert clicks_rollup() == 1
    assert clicks_purge_old() == 0


def test_the_inline_scheduler_knows_the_tasks():
    from celery import current_app
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("tasks")
    assert {"rules.clicks_rollup", "rules.clicks_purge"} <= set(current_app.tasks)


def test_purge_deletes_whole_old_days_after_rolling_them_up(alice):
    old_day = NOW - timedelta(days=41)
    add(alice, old_day.replace(hour=1), "a")
    add(alice, old_day.replace(hour=23), "b", bot=True)
    older = NOW - timedelta(days=100)
    add(alice, older, "a")
    keep = [add(alice, NOW - timedelta(days=40), "a"), add(alice, NOW, "a")]  # inside retention
    # The older day was rolled up long ago; its roll-up must survive as it was.
    clicks_rollup_day(older.date())
    with override_settings(CLICK_RETENTION_DAYS=40):
        assert clicks_purge(now=NOW) == 3
    assert set(Click.objects.values_list("pk", flat=True)) == {c.pk for c in keep}
    row = daily(alice, old_day.date())
    assert (row.clicks, row.bot_clicks) == (1, 1)
    assert daily(alice, older.date()).clicks == 1
    # A second run finds nothing and leaves the roll-ups alone.
    with override_settings(CLICK_RETENTION_DAYS=40):
        assert clicks_purge(now=NOW) == 0
    assert ClickDaily.objects.count() == 2


def test_commands(alice):
    from io import StringIO

    from django.core.management import call_command

    add(alice, datetime.now(UTC), "a")
    out = StringIO()
    call_command("rollup_clicks", stdout=out)
    call_command("rollup_clicks", "--day", "2026-06-15", stdout=out)
    call_command("purge_clicks", stdout=out)
    assert "1 roll-up row(s)." in out.getvalue() and "Deleted 0 click(s)." in out.getvalue()
