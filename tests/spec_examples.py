"""Literal examples from ../shared/SPEC.md, kept apart from product code so tests compare the
product against the contract rather than against itself."""

from __future__ import annotations

from typing import Any

# SPEC §6: the rule format's example, also what the offline drafter must produce from
# "When a paid user refers someone who subscribes to premium, reward 500 rupees voucher".
SPEC_EXAMPLE_RULE: dict[str, Any] = {
    "name": "Premium referral reward",
    "trigger": "subscription_started",
    "priority": 10,
    "stop_processing": False,
    "conditions": {
        "operator": "AND",
        "conditions": [
            {"field": "referrer.is_paid_user", "operator": "equals", "value": True},
            {"field": "referred.subscription_plan", "operator": "equals", "value": "premium"},
        ],
    },
    "actions": [
        {
            "type": "credit_reward",
            "params": {
                "beneficiary": "referrer",
                "amount": 50000,
                "currency": "INR",
                "reward_type": "voucher",
            },
        }
    ],
}
