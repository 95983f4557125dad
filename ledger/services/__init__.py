"""Services own every write (STYLE.md). Import from the submodules:
`ledger.services.transactions`, `ledger.services.programs`, `ledger.services.audit`, ..."""
