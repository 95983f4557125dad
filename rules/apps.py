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
        from rules import checks, signals  # noqa: F401  (registers checks and receivers)
        from rules.actions.registry import autodiscover as rule_actions_autodiscover
        from rules.rewards import ledger_owners
        from rules.rewards.services import reconciliation  # noqa: F401  (registers its checks)

        rule_actions_autodiscover()  # each rules/actions/<type>.py registers its action
        ledger_owners.register()  # the books refuse to move these transactions by hand
