"""50 racing requests for one click id and one (new) user, half events and half referrals:
exactly one referral, every event stored (PostgreSQL, real threads, their own connections)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from config.platform.api_keys import api_key_create
from rules.links.models import Click
from rules.models import Event, Referral
from rules.rewards.services.program_settings import program_update
from rules.rewards.services.programs import program_create
from rules.services.participants import participant_get_or_create
from tests.conftest import ensure_groups

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

N = 50


def test_fifty_racing_attributions_make_one_referral(settings):
    settings.CELERY_BROKER_URL = ""
    ensure_groups()
    program, _ = program_create(slug="race", name="Race", currency="INR")
    program_update(
        program=program,
        changes={"landing_url": "https://example.com/", "allowed_domains": ["example.com"]},
        actor="t",
    )
    key = api_key_create(program=program, name="race")[1]
    alice = participant_get_or_create(program=program, external_id="alice", actor="t")[0]
    click = Click.objects.create(program=program, participant=alice, visitor_hash="v")
    barrier = threading.Barrier(N)
    results: list[tuple[str, int, dict]] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
            if i % 2:
                path, body = "events", {"id": f"e-{i}", "type": "signup", "user": "bob"}
            else:
                path, body = "referrals", {"referred": "bob"}
            body["click_id"] = str(click.id)
            barrier.wait(timeout=30)
            r = client.post(f"/api/v1/programs/race/{path}", body, format="json")
            results.append((path, r.status_code, r.json()))
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
    assert len(results) == N
    assert Referral.objects.filter(referred__external_id="bob").count() == 1
    events = [(status, body) for path, status, body in results if path == "events"]
    assert [status for status, _ in events] == [202] * (N // 2)
    attributed = [b for _, b in events if b["attribution"]["status"] == "attributed"]
    referrals = [(s, b) for path, s, b in results if path == "referrals"]
    created = [b for s, b in referrals if s == 201]
    assert len(attributed) + len(created) == 1, (attributed, created)
    assert all(s == 409 and b["code"] == "already_referred" for s, b in referrals if s != 201)
    assert all(
        b["attribution"]["status"] == "already_referred"
        for b in (b for _, b in events)
        if b not in attributed
    )
    assert Event.objects.filter(program=program, type="signup").count() == N // 2
    assert Event.objects.filter(program=program, event_id="referral_created:bob").count() == 1
