"""Who the participants are, asked of the referral domain above (which registers the lookup at
start-up: RulesConfig.ready()). The money domain names beneficiaries by external id and must not
import the referral domain's models; payouts still need to tell "no such participant" from
"nothing available", and notifications need the participant's id."""

from __future__ import annotations

from collections.abc import Callable

# (program id, external id) -> the participant's primary key, or None.
ParticipantLookup = Callable[[int, str], int | None]

_LOOKUP: list[ParticipantLookup] = []


def participant_lookup_register(lookup: ParticipantLookup) -> None:
    _LOOKUP[:] = [lookup]


def participant_pk(*, program_id: int, external_id: str) -> int | None:
    """The participant's id, None when the program has no such participant (or no lookup is
    registered, as in a process that never started the referral domain)."""
    if not _LOOKUP:
        return None
    return _LOOKUP[0](program_id, external_id)
