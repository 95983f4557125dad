from django.core.management.base import BaseCommand

from config.platform.webhooks.retention import webhook_messages_purge


class Command(BaseCommand):
    help = (
        "Delete delivered webhook messages (and their delivery logs) older than "
        "WEBHOOK_RETENTION_DAYS (default 90). Pending and failed messages are kept. The database "
        "refuses any other deletion of webhook messages. Run it daily (cron)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-days",
            type=int,
            metavar="DAYS",
            help="override WEBHOOK_RETENTION_DAYS for this run (at least 1)",
        )

    def handle(self, *args, **opts):
        purged = webhook_messages_purge(
            older_than_days=opts["older_than_days"], actor="command:purge_webhook_messages"
        )
        self.stdout.write(f"Purged {purged} delivered webhook message(s).")
