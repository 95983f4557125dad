import time

from django.core.management.base import BaseCommand

from config.platform.webhooks.delivery import webhook_deliver_due


class Command(BaseCommand):
    help = (
        "Send due webhook messages (retries, and messages whose hand-off was lost). Celery beat "
        "runs this every WEBHOOK_SWEEP_SECONDS; without a broker run it from cron, or with --loop."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=100, help="messages per sweep")
        parser.add_argument(
            "--loop", type=float, metavar="SECONDS", help="sweep forever, this many seconds apart"
        )

    def handle(self, *args, **opts):
        while True:
            sent = webhook_deliver_due(limit=opts["limit"])
            self.stdout.write(f"Attempted {sent} webhook message(s).")
            if opts["loop"] is None:
                return
            time.sleep(opts["loop"])
