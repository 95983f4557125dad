"""GET /metrics (SPEC §15): who may read it, route patterns as labels, the database's state
as gauges, and every gunicorn worker's counts in one scrape (multiprocess mode)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from config.platform.models import WebhookEndpoint, WebhookMessage
from ledger.models import ReconciliationRun
from rules.models import Event, Participant
from rules.rewards.models import PayoutBatch
from tests.ops.conftest import database_url_of_this_test

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "metrics-test-token"


@pytest.fixture
def metrics_settings(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16", "192.0.2.7"]
    settings.CLICK_IP_FROM_FORWARDED_FOR = False
    return settings


def scrape(client, **headers) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(response.content.decode())


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_nobody_without_the_token_or_an_allowed_address(client, metrics_settings):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.1.200.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.8").status_code == 404
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


def test_neither_setting_means_nobody(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


def test_behind_the_proxy_the_address_it_appended_counts(client, metrics_settings):
    metrics_settings.CLICK_IP_FROM_FORWARDED_FOR = True
    # The proxy (127.0.0.1) appends the client's address; a client cannot forge an earlier one.
    forged = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "10.1.0.1, 203.0.113.9"}
    assert client.get("/metrics", **forged).status_code == 404
    real = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9, 10.1.0.1"}
    assert client.get("/metrics", **real).status_code == 200


def test_requests_are_counted_by_route_pattern_not_path(client, api, url, metrics_settings):
    before = scrape(client)
    for pk in (1, 2, 3):
        assert api.get(url(f"rewards/{pk}")).status_code == 404
    assert client.get("/no/such/page/42").status_code == 404
    samples = scrape(client)
    route = "api/v1/programs/<slug:program>/rewards/<str:pk>"
    key = {"method": "GET", "route": route, "status": "404"}
    assert value(samples, "referral_ledger_http_requests_total", **key) - value(
        before, "referral_ledger_http_requests_total", **key
    ) == pytest.approx(3)
    assert value(
        samples, "referral_ledger_http_request_duration_seconds_count", method="GET", route=route
    ) - value(
        before, "referral_ledger_http_request_duration_seconds_count", method="GET", route=route
    ) == pytest.approx(3)
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    assert value(samples, "referral_ledger_http_requests_total", **unmatched) >= 1
    routes = {dict(labels).get("route", "") for _, labels in samples}
    assert not any("/rewards/1" in r or "42" in r for r in routes)


def test_queues_backlogs_and_reconciliation_from_the_database(client, program, metrics_settings):
    now = timezone.now()
    bob = Participant.objects.create(program=program, external_id="bob")

    def event(n: int, status: str, age: timedelta) -> None:
        Event.objects.create(
            program=program,
            event_id=f"e{n}",
            type="purchase",
            participant=bob,
            occurred_at=now,
            body_hash="x",
            status=status,
            created_at=now - age,
        )

    event(1, "received", timedelta(minutes=10))
    event(2, "received", timedelta(minutes=1))
    event(3, "processing", timedelta(seconds=5))
    event(4, "failed", timedelta(hours=2))
    event(5, "processed", timedelta(days=3))
    endpoint = WebhookEndpoint.objects.create(program=program, url="https://example.com/h")
    for status, age in (("pending", 300), ("pending", 30), ("failed", 60), ("delivered", 9)):
        WebhookMessage.objects.create(
            program=program,
            endpoint=endpoint,
            event_type="reward.created",
            payload={},
            status=status,
            next_attempt_at=now - timedelta(seconds=1),
            created_at=now - timedelta(seconds=age),
        )
    PayoutBatch.objects.create(
        program=program,
        currency="INR",
        created_by="a",
        status="pending_approval",
        created_at=now - timedelta(hours=5),
    )

    samples = scrape(client)
    assert value(samples, "referral_ledger_events", status="received") == 2
    assert value(samples, "referral_ledger_events", status="processing") == 1
    assert value(samples, "referral_ledger_events", status="failed") == 1
    queue_age = value(samples, "referral_ledger_events_oldest_age_seconds", status="received")
    assert 600 <= queue_age < 3600
    assert value(samples, "referral_ledger_webhook_messages", state="pending") == 2
    assert value(samples, "referral_ledger_webhook_messages", state="due") == 2
    assert value(samples, "referral_ledger_webhook_messages", state="failed") == 1
    assert 300 <= value(samples, "referral_ledger_webhook_oldest_pending_age_seconds") < 3600
    assert value(samples, "referral_ledger_payout_batches_waiting", status="pending_approval") == 1
    assert value(samples, "referral_ledger_payout_batches_waiting", status="approved") == 0
    # No reconciliation yet: not clean, and no age (an absent() alert fires).
    assert value(samples, "referral_ledger_reconciliation_last_clean") == 0
    assert ("referral_ledger_reconciliation_last_age_seconds", ()) not in samples

    ReconciliationRun.objects.create(
        status="discrepancies",
        findings=[{"check": "x"}, {"check": "y"}],
        actor="test",
        finished_at=now - timedelta(days=2),
    )
    ReconciliationRun.objects.create(
        status="clean", actor="test", finished_at=now - timedelta(hours=1)
    )
    samples = scrape(client)
    assert value(samples, "referral_ledger_reconciliation_last_clean") == 1
    assert value(samples, "referral_ledger_reconciliation_last_findings") == 0
    assert 3600 <= value(samples, "referral_ledger_reconciliation_last_age_seconds") < 7200


SERVE = """
import json, os, sys
import django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="localhost")
for _ in range(int(sys.argv[1])):
    assert client.get("/healthz").status_code == 200
if sys.argv[2] == "scrape":
    r = client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + os.environ["METRICS_TOKEN"])
    print(json.dumps({"status": r.status_code, "body": r.content.decode()}))
"""


def test_every_worker_process_is_summed_in_multiprocess_mode(tmp_path, program):
    """Three processes (as gunicorn workers would be) serve 2, 3 and 4 requests; the last one's
    scrape reports all 9, and the database's gauges once."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url_of_this_test(),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "METRICS_TOKEN": TOKEN,
        "DJANGO_ALLOWED_HOSTS": "localhost",
    }
    for n in (2, 3):
        subprocess.run([sys.executable, "-c", SERVE, str(n), "-"], env=env, check=True)
    out = subprocess.run(
        [sys.executable, "-c", SERVE, "4", "scrape"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == 200
    samples = parse(result["body"])
    ok = {"method": "GET", "route": "healthz", "status": "200"}
    assert value(samples, "referral_ledger_http_requests_total", **ok) == 9
    assert value(samples, "referral_ledger_events", status="received") == 0
    assert len(list(tmp_path.iterdir())) >= 3  # one file per process (and kind)
