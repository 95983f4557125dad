from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "rules"
    verbose_name = "Referrals and rules"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rules import checks, signals  # noqa: F401  (registers checks and receivers)
        from rules.actions.registry import autodiscover as rule_actions_autodiscover
        from rules.rewards import ledger_owners
        from rules.rewards.services import reconciliation  # noqa: F401  (registers its checks)

        rule_actions_autodiscover()  # each rules/actions/<type>.py registers its action
        ledger_owners.register()  # the books refuse to move these transactions by hand
