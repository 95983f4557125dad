from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from config.platform.api_keys import (
    API_CLIENTS_GROUP,
    api_key_create,
    service_identity_get_or_create,
    service_identity_name,
)
from config.platform.exceptions import DomainError
from config.platform.models import Program


class Command(BaseCommand):
    help = (
        "Create an API key for a program. The key is printed once, alone on the last line. A key "
        "acts as its owner: by default the program's service identity api-<slug> (a user that "
        "cannot log in, in the 'api clients' group: everything but approving payout batches "
        "and managing keys); --service NAME for another service identity, --owner USERNAME for "
        "a person. Running this needs shell access to the server, i.e. a superuser's trust."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="", help="What uses the key, to recognise it")
        who = parser.add_mutually_exclusive_group()
        who.add_argument(
            "--owner",
            metavar="USERNAME",
            help="An existing active user the key acts as (their permissions, their identity)",
        )
        who.add_argument(
            "--service",
            metavar="NAME",
            help="The service identity the key acts as, created if missing (default: api-<slug>)",
        )
        parser.add_argument(
            "--group",
            action="append",
            default=[],
            metavar="GROUP",
            help="Put a new service identity in this group instead of 'api clients' (repeat "
            "for several), e.g. --group approvers for a key that may approve payout batches; "
            "an existing one is added to it",
        )

    def handle(self, *args, **opts):
        program = Program.objects.filter(slug=opts["slug"]).first()
        if program is None:
            raise CommandError(
                f"No program {opts['slug']!r}. Create it first: manage.py create_program {opts['slug']} "
                "--name NAME --currency INR"
            )
        try:
            if opts["owner"]:
                if opts["group"]:
                    raise CommandError(
                        "--group is for service identities: change a person's groups in the admin."
                    )
                UserModel = get_user_model()
                person = UserModel.objects.filter(
                    **{UserModel.USERNAME_FIELD: opts["owner"]}
                ).first()
                if person is None:
                    raise CommandError(f"No user {opts['owner']!r}.")
                owner = person
            else:
                username = opts["service"] or service_identity_name(program)
                owner, created = service_identity_get_or_create(
                    username=username, groups=tuple(opts["group"])
                )
                if created:
                    groups = ", ".join(opts["group"]) or API_CLIENTS_GROUP
                    self.stdout.write(f"Created service identity {username} (groups: {groups}).")
            key, raw = api_key_create(
                program=program, owner=owner, name=opts["name"], actor="command:create_api_key"
            )
        except DomainError as exc:
            raise CommandError(exc.detail) from None
        self.stdout.write(
            f"API key {key.prefix}… for {program.slug}, acting as {owner.get_username()}; "
            "store it now, it is not shown again:"
        )
        self.stdout.write(raw)
