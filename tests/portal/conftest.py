"""Portal fixtures: a program with two partners (alice, bob) who have emails, and a client
signed in as a partner."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import Client

from builder.portal.services import partner_account_ensure
from rules.rewards.services.program_settings import program_update
from rules.services.participants import participant_upsert

LINK = re.compile(r"https?://\S+/signin/link\?sesame=\S+")


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()  # the rate-limit counters live in the cache
    yield
    cache.clear()


@pytest.fixture
def shop(program):
    return program_update(
        program=program,
        changes={
            "landing_url": "https://shop.example.com/welcome",
            "allowed_domains": ["example.com"],
        },
        actor="test",
    )


def _partner(program, external_id: str, email: str):
    return participant_upsert(
        program=program, external_id=external_id, attributes={"email": email}, actor="test"
    )[0]


@pytest.fixture
def alice(shop):
    return _partner(shop, "alice", "alice@example.com")


@pytest.fixture
def bob(shop):
    return _partner(shop, "bob", "bob@example.com")


def signed_in(participant) -> Client:
    client = Client()
    client.force_login(partner_account_ensure(participant=participant).user)
    return client


@pytest.fixture
def alice_client(alice) -> Client:
    return signed_in(alice)


def link_in(message) -> str:
    found = LINK.search(message.body)
    assert found, message.body
    return found.group(0)
