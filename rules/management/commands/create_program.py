from django.core.management.base import BaseCommand, CommandError

from config.platform.currencies import is_iso_4217
from config.platform.exceptions import DomainError
from rules.rewards.services.programs import program_create


class Command(BaseCommand):
    help = (
        "Create a program (tenant) and its system accounts. Re-running for a slug changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--currency", required=True, help="ISO 4217, e.g. INR")
        parser.add_argument("--direct-rate-bps", type=int, default=1000)
        parser.add_argument("--override-rate-bps", type=int, default=200)
        parser.add_argument("--hold-days", type=int, default=0)
        parser.add_argument("--operation-set", default="core")
        parser.add_argument("--min-payout", type=int, default=0)

    def handle(self, *args, **opts):
        currency = opts["currency"]
        if not is_iso_4217(currency.upper()):
            raise CommandError(
                f"--currency {currency!r} is not an ISO 4217 currency code: give three capital "
                "letters naming a currency, e.g. INR, USD, EUR, GBP, JPY."
            )
        try:
            program, created = program_create(
                slug=opts["slug"],
                name=opts["name"],
                currency=opts["currency"],
                direct_rate_bps=opts["direct_rate_bps"],
                override_rate_bps=opts["override_rate_bps"],
                hold_days=opts["hold_days"],
                operation_set=opts["operation_set"],
                min_payout=opts["min_payout"],
                actor="command:create_program",
            )
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        if created:
            self.stdout.write(
                self.style.SUCCESS(f"Created program {program.slug} ({program.currency}).")
            )
        else:
            self.stdout.write(f"Program {program.slug} already exists; nothing changed.")
