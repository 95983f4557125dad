"""Services own every write of the rules app (STYLE.md). Import from the submodules:
participants, referrals, events, rules, processing, simulate."""
