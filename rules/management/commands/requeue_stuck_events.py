"""Re-queue events that were lost (broker down), stuck (worker died) or are due for a retry.
Celery beat runs the same job every minute when a broker is configured."""

from django.core.management.base import BaseCommand

from rules.tasks import requeue_stuck


class Command(BaseCommand):
    help = "Re-queue events stuck in received or processing, and retries that are due."

    def add_arguments(self, parser):
        parser.add_argument(
            "--inline",
            action="store_true",
            help="process them here instead of queueing them on the broker",
        )

    def handle(self, *args, **opts):
        count = requeue_stuck(inline=True if opts["inline"] else None)
        self.stdout.write(f"Re-queued {count} event(s).")
