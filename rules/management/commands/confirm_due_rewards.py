"""Auto-confirmation of rewards for deployments without a Celery broker (run it from cron)."""

from django.core.management.base import BaseCommand

from rules.rewards.tasks import confirm_due_rewards


class Command(BaseCommand):
    help = (
        "Confirm pending rewards older than their program's hold_days (rewards held for review "
        "are skipped). With CELERY_BROKER_URL set, Celery beat does this on a schedule; "
        "without a broker, schedule this command (e.g. hourly from cron)."
    )

    def handle(self, *args, **options):
        count = confirm_due_rewards()
        self.stdout.write(f"Confirmed {count} reward(s).")
