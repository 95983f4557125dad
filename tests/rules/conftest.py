"""Fixtures for the rules app: rule definitions, publishing, sending events."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.spec_examples import SPEC_EXAMPLE_RULE

SPEC_RULE = SPEC_EXAMPLE_RULE


def rule_def(**changes: Any) -> dict[str, Any]:
    """A copy of the SPEC example with top-level keys changed."""
    definition = copy.deepcopy(SPEC_RULE)
    definition.update(changes)
    return definition


def reward_action(amount: int, beneficiary: str = "referrer", **params: Any) -> dict[str, Any]:
    return {
        "type": "credit_reward",
        "params": {
            "beneficiary": beneficiary,
            "amount": amount,
            "currency": "INR",
            "reward_type": "cash",
            **params,
        },
    }


ALWAYS = {"operator": "AND", "conditions": []}


@pytest.fixture(autouse=True)
def _inline_processing(settings):
    """No broker: events are processed in-process after commit (the embedded default)."""
    settings.CELERY_BROKER_URL = ""


@pytest.fixture
def publish(program):
    """Create and publish a rule through the services; returns the Rule."""
    from rules.services.rules import rule_create, rule_publish

    def do(definition: dict[str, Any]):
        rule = rule_create(program=program, definition=definition, actor="test")
        return rule_publish(rule=rule, actor="test")

    return do


@pytest.fixture
def refer(program):
    from rules.services.referrals import referral_create

    def do(referrer: str, referred: str):
        return referral_create(program=program, referrer=referrer, referred=referred, actor="test")

    return do


@pytest.fixture
def ingest(program):
    """Store an event through the service (processing follows on commit)."""
    from rules.services.events import event_ingest

    def do(event_id: str, type: str, user: str, *, data=None, attributes=None, occurred_at=None):
        event, _ = event_ingest(
            program=program,
            event_id=event_id,
            type=type,
            user=user,
            data=data or {},
            attributes=attributes or {},
            occurred_at=occurred_at,
            actor="test",
        )
        return event

    return do


@pytest.fixture
def process():
    """Process an event now and return it fresh from the database."""
    from rules.models import Event
    from rules.services.processing import event_process

    def do(event):
        event_process(event_pk=event.pk)
        return Event.objects.get(pk=event.pk)

    return do
