"""Demo data, so a new user sees a living system. Safe to run again: it adds nothing twice."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from ledger.services.programs import program_create

DEMO_SLUG = "demo"


class Command(BaseCommand):
    help = "Create a demo program with participants, referrals, rules, events and rewards."

    def handle(self, *args, **opts):
        program, created = program_create(
            slug=DEMO_SLUG, name="Demo Referral Program", currency="INR", actor="command:seed_demo"
        )
        User = get_user_model()
        if not User.objects.filter(username="demo").exists():
            User.objects.create_superuser("demo", "demo@example.com", "demo")
            self.stdout.write("Created staff user demo / password demo")
        self.stdout.write(
            self.style.SUCCESS(f"Demo program '{program.slug}' {'created' if created else 'ready'}.")
        )
