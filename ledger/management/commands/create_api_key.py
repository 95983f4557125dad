from django.core.management.base import BaseCommand, CommandError

from ledger.models import Program
from ledger.services.programs import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a program. The key is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="")

    def handle(self, *args, **opts):
        program = Program.objects.filter(slug=opts["slug"]).first()
        if program is None:
            raise CommandError(
                f"No program {opts['slug']!r}. Create it first: manage.py create_program {opts['slug']} "
                "--name NAME --currency INR"
            )
        key, raw = api_key_create(
            program=program, name=opts["name"], actor="command:create_api_key"
        )
        self.stdout.write(
            f"API key {key.prefix}… for {program.slug}; store it now, it is not shown again:"
        )
        self.stdout.write(raw)
