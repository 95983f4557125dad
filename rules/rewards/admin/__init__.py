"""The referral money domain in the operator console: programs' settings, rewards and the fraud
review queue, payout batches and reconciliation runs."""

from rules.rewards.admin import payouts, programs, reconciliation, rewards  # noqa: F401
