"""Delete raw clicks older than CLICK_RETENTION_DAYS, whole UTC days, each rolled up first.
Celery beat or the inline scheduler runs the same job nightly (docs/OPERATIONS.md, "Clicks")."""

from django.core.management.base import BaseCommand

from rules.links.services.rollup import clicks_purge


class Command(BaseCommand):
    help = "Delete raw clicks past the retention (their daily roll-ups stay)."

    def handle(self, *args, **opts):
        self.stdout.write(f"Deleted {clicks_purge()} click(s).")
