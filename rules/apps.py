from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "rules"
    verbose_name = "Referrals and rules"
    default_auto_field = "django.db.models.BigAutoField"

    def import_models(self) -> None:
        super().import_models()
        # rules.links.models builds on rules.models (Participant), so rules.models cannot import
        # it; Django loads it here, with the app's own models (an import at the top of this
        # module would run before the app registry can take models).
        from rules.links import models  # noqa: F401

    def ready(self) -> None:
        from config.platform.webhooks.events import webhook_event_types_register
        from rules import checks, dashboard, tasks  # noqa: F401  (checks registers the checks)
        from rules.action_registry import autodiscover as rule_actions_autodiscover
        from rules.models import Participant
        from rules.rewards import dashboard as rewards_dashboard
        from rules.rewards import ledger_owners
        from rules.rewards import webhooks as rewards_webhooks
        from rules.rewards.participants import participant_lookup_register
        from rules.rewards.rails import csv, external, paypal, stripe_connect  # noqa: F401
        from rules.rewards.services import reconciliation  # noqa: F401  (registers its checks)
        from rules.services.handoff import event_handoff_connect
        from rules.services.processing import EVENT_FAILED

        rule_actions_autodiscover()  # each rules/actions/<type>.py registers its action
        ledger_owners.register()  # the books refuse to move these transactions by hand
        # Payouts tell "no such participant" from "nothing to pay"; the rails register above.
        participant_lookup_register(
            lambda program_id, external_id: (
                Participant.objects.filter(program_id=program_id, external_id=external_id)
                .values_list("pk", flat=True)
                .first()
            )
        )
        # Webhook event types, in the order clients see them: the money domain's, then ours.
        rewards_webhooks.register()
        webhook_event_types_register(EVENT_FAILED)
        # The operator's start page: the money domain's cards and charts, then ours.
        rewards_dashboard.register()
        dashboard.register()
        # A stored event goes to a worker (or is processed here) once it is committed.
        event_handoff_connect(tasks.event_enqueue, many=tasks.events_enqueue_batch)
