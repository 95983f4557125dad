import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from config.platform.models import Program
from ledger.services.reconciliation import registered_checks
from ledger.services.reconciliation_runs import reconciliation_record


class Command(BaseCommand):
    help = (
        "Run every integrity check (SPEC §8). Exits 0 when the ledger is clean and 1 when "
        "discrepancies were found."
    )

    def add_arguments(self, parser):
        parser.add_argument("--program", metavar="SLUG", help="check one program only")

    def handle(self, *args, **opts):
        program = None
        if opts["program"]:
            program = Program.objects.filter(slug=opts["program"]).first()
            if program is None:
                raise CommandError(f"No program {opts['program']!r}.")
        # The bar goes to stderr so stdout carries only the findings and the verdict.
        with tqdm(
            total=len(registered_checks()), desc="reconcile", unit="check", file=sys.stderr
        ) as bar:

            def progress(name: str, done: int, total: int) -> None:
                bar.set_postfix_str(name)
                bar.update(1)

            # Stored, so the admin and GET …/reconciliations/latest show what cron found.
            report = reconciliation_record(
                program=program, actor="command:reconcile", progress=progress
            )
        scope = f"program {program.slug}" if program else "all programs"
        for check in report.checks:
            self.stdout.write(f"{check['name']}: {check['status']} ({check['findings']} findings)")
        for f in report.findings:
            self.stdout.write(
                f"  [{f['check']}] {f['object_type']} {f['object_id']}: {f['message']} "
                f"(expected {f['expected']}, actual {f['actual']})"
            )
        if report.findings:
            raise CommandError(
                f"{len(report.findings)} discrepancies found in {scope}.", returncode=1
            )
        self.stdout.write(self.style.SUCCESS(f"Ledger is clean ({scope})."))
