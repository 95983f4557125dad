"""Services own every write (STYLE.md). Import from the submodules:
`ledger.services.transactions`, `rules.rewards.services.programs`, `config.platform.audit`, ..."""
