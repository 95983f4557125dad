from __future__ import annotations

import pytest

from rules.rewards.services.program_settings import program_update
from rules.services.participants import participant_get_or_create


@pytest.fixture
def shop(program):
    """The program with a landing page on its allowed domains."""
    return program_update(
        program=program,
        changes={
            "landing_url": "https://shop.example.com/welcome?lang=en",
            "allowed_domains": ["example.com"],
            "attribution_window_days": 30,
        },
        actor="test",
    )


@pytest.fixture
def alice(shop):
    return participant_get_or_create(program=shop, external_id="alice", actor="test")[0]
