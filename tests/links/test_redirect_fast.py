"""The redirect's fast path (docs/PERFORMANCE.md, "Referral clicks"): the link target is
remembered per process and forgotten on a change, the connection ping is skipped and a dead
connection is replaced, and buffered inserts (CLICK_BUFFER_SECONDS) store every click once."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from rules.links import target_cache
from rules.links.models import Click
from rules.links.services.click_buffer import buffer
from rules.rewards.services.program_settings import program_update

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"


def visit(client, path):
    return client.get(path, HTTP_USER_AGENT=BROWSER, REMOTE_ADDR="203.0.113.7")


@pytest.fixture(autouse=True)
def _fresh_cache():
    target_cache.forget_all()
    yield
    target_cache.forget_all()


def test_a_remembered_link_costs_one_statement(client, alice):
    assert visit(client, f"/r/{alice.referral_code}").status_code == 302
    with CaptureQueriesContext(connection) as queries:
        assert visit(client, f"/r/{alice.referral_code.lower()}").status_code == 302
    assert len(queries.captured_queries) == 1  # the insert: no lookup, no ping
    assert "INSERT" in queries.captured_queries[0]["sql"].upper()
    assert Click.objects.filter(participant=alice).count() == 2


def test_a_change_is_seen_at_once_by_the_process_that_made_it(client, alice, shop):
    visit(client, f"/r/{alice.referral_code}")
    program_update(
        program=shop, changes={"landing_url": "https://shop.example.com/new"}, actor="test"
    )
    location = urlsplit(visit(client, f"/r/{alice.referral_code}")["Location"])
    assert location.path == "/new"


@override_settings(CLICK_LINK_CACHE_SECONDS=0)
def test_cache_off_looks_up_every_time(client, alice):
    visit(client, f"/r/{alice.referral_code}")
    with CaptureQueriesContext(connection) as queries:
        visit(client, f"/r/{alice.referral_code}")
    assert len(queries.captured_queries) == 2  # lookup and insert


def test_unknown_codes_are_not_remembered(client, alice, shop):
    assert visit(client, "/r/NOSUCHCODE").status_code == 404
    assert not target_cache._targets


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_dead_connection_is_replaced_without_the_ping(client, alice, settings):
    """A connection killed between two redirects (a restarted server, pg_terminate_backend):
    the redirect's statement fails on it, and runs once more on a new connection."""
    settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    connection.health_check_enabled = True  # type: ignore[attr-defined]
    assert visit(client, f"/r/{alice.referral_code}").status_code == 302
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    dsn = connection.connection.info.dsn
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    r = visit(client, f"/r/{alice.referral_code}")
    assert r.status_code == 302
    assert connection.connection.info.backend_pid != pid
    click_id = parse_qs(urlsplit(r["Location"]).query)["click_id"][0]
    assert Click.objects.filter(pk=click_id).count() == 1
    assert Click.objects.filter(participant=alice).count() == 2


@pytest.mark.django_db(transaction=True)
def test_buffered_clicks_are_written_once(client, alice):
    with override_settings(CLICK_BUFFER_SECONDS=60, CLICK_BUFFER_SIZE=10_000):
        ids = [
            parse_qs(urlsplit(visit(client, f"/r/{alice.referral_code}")["Location"]).query)[
                "click_id"
            ][0]
            for _ in range(5)
        ]
    assert not Click.objects.filter(pk__in=ids).exists()  # held, not written yet
    held = list(buffer._rows)
    assert buffer.flush() == 5
    assert set(map(str, Click.objects.values_list("id", flat=True))) == set(ids)
    # A batch written a second time (a retry after an unclear failure) adds nothing.
    buffer._rows.extend(held)
    assert buffer.flush() == 5
    assert not buffer._rows  # written (as nothing new), not kept for another attempt
    assert Click.objects.count() == 5
    assert buffer.flush() == 0
