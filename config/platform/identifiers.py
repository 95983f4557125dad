"""Identifiers every layer shares."""

import re

# A participant's external id: it becomes part of ledger account codes (`user:<id>:rewards`),
# so it is short and made of characters that need no quoting anywhere.
PARTICIPANT_ID_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,200}$")
