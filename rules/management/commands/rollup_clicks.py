"""Recompute the daily click roll-ups (today and yesterday, or --day). Celery beat or the
inline scheduler runs the same job every CLICK_ROLLUP_SECONDS (docs/OPERATIONS.md, "Clicks")."""

from datetime import date

from django.core.management.base import BaseCommand

from rules.links.services.rollup import clicks_rollup_day, clicks_rollup_recent


class Command(BaseCommand):
    help = "Recompute the daily click roll-ups from the raw clicks."

    def add_arguments(self, parser):
        parser.add_argument("--day", type=date.fromisoformat, help="one UTC day, YYYY-MM-DD")

    def handle(self, *args, **opts):
        rows = clicks_rollup_day(opts["day"]) if opts["day"] else clicks_rollup_recent()
        self.stdout.write(f"{rows} roll-up row(s).")
