"""The referral money domain in the operator console: programs' settings, rewards and the fraud
review queue, payout batches, participants' payout methods and reconciliation runs."""

from rules.rewards.admin import (  # noqa: F401
    payout_methods,
    payouts,
    programs,
    reconciliation,
    rewards,
)
