"""A payout worker that dies at the worst moment: run as
`python -m tests.payouts.kill_worker <batch id>` (DJANGO_SETTINGS_MODULE, DATABASE_URL and the
Stripe stub's settings in the environment). It executes the batch with the stripe_connect rail
wrapped so that the process SIGKILLs itself right after the provider answered and before our
database records the answer (tests/payouts/test_kill_between_provider_and_commit.py)."""

from __future__ import annotations

import os
import signal
import sys

import django


def main(batch_id: int) -> None:
    django.setup()
    from rules.rewards.models import PayoutBatch
    from rules.rewards.rails.base import rail_get, rail_register
    from rules.rewards.services.payouts import payout_batch_execute

    real = rail_get("stripe_connect")

    class DiesAfterTheProviderAnswered:
        name = real.name

        def send(self, **kwargs):
            real.send(**kwargs)  # the provider made the transfers and answered
            print("provider answered", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # before our commit of the answer

        def poll(self, **kwargs):
            return real.poll(**kwargs)

    rail_register(DiesAfterTheProviderAnswered())
    payout_batch_execute(batch=PayoutBatch.objects.get(pk=batch_id), actor="user:worker")
    print("not killed", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
