"""50 racing clicks on one link: every one recorded with its own id, and the roll-up equals
the raw count (PostgreSQL, real threads with their own connections)."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client

from rules.links.models import Click, ClickDaily
from rules.links.services.rollup import clicks_rollup_recent
from rules.rewards.services.program_settings import program_update
from rules.rewards.services.programs import program_create
from rules.services.participants import participant_get_or_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

N = 50


def test_fifty_concurrent_clicks(db):
    program, _ = program_create(slug="race", name="Race", currency="INR")
    program_update(
        program=program,
        changes={"landing_url": "https://example.com/", "allowed_domains": ["example.com"]},
        actor="t",
    )
    alice = participant_get_or_create(program=program, external_id="alice", actor="t")[0]
    barrier = threading.Barrier(N)
    results: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            client = Client()
            barrier.wait(timeout=30)
            r = client.get(
                f"/r/{alice.referral_code}",
                HTTP_USER_AGENT=f"Mozilla/5.0 visitor-{i % 10}",
                REMOTE_ADDR="203.0.113.1",
            )
            results.append((r.status_code, parse_qs(urlsplit(r["Location"]).query)["click_id"][0]))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert [status for status, _ in results] == [302] * N
    ids = {click_id for _, click_id in results}
    assert len(ids) == N
    assert set(map(str, Click.objects.values_list("id", flat=True))) == ids
    clicks_rollup_recent()
    rows = list(ClickDaily.objects.filter(participant=alice))
    assert sum(r.clicks + r.bot_clicks for r in rows) == N
    assert sum(r.unique_clicks for r in rows) == 10


def test_the_async_commit_stays_in_the_clicks_own_transaction(db, client):
    """The click's insert turns synchronous_commit off for its own transaction only: the
    connection's next statements (money among them) commit synchronously again."""
    program, _ = program_create(slug="async", name="Async", currency="INR")
    program_update(
        program=program,
        changes={"landing_url": "https://example.com/", "allowed_domains": ["example.com"]},
        actor="t",
    )
    alice = participant_get_or_create(program=program, external_id="alice", actor="t")[0]
    assert client.get(f"/r/{alice.referral_code}").status_code == 302
    assert Click.objects.count() == 1
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
