"""What a short link points at, remembered per process for CLICK_LINK_CACHE_SECONDS: the
redirect (the busiest path) then writes its click without reading first.

A process forgets everything it remembers whenever it saves or deletes a program, participant
or named link itself (the signal receivers below); other processes see such a change within
CLICK_LINK_CACHE_SECONDS (a setting; 10 s when unset: a new landing URL or destination, a new
attribution window for the cookie). A new named link is never stale: unknown codes and slugs
are not remembered, so they are looked up every time. 0 turns the cache off."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import router, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from config.platform.models import Program
from rules.links.db import unpinged
from rules.links.models import ReferralLink
from rules.links.selectors import LinkTarget, link_target
from rules.models import Participant

MAX_ENTRIES = 10_000  # past it the cache starts over: bounded memory whatever the traffic

_targets: dict[tuple[str, str | None], tuple[float, LinkTarget]] = {}


def link_target_cached(*, code: str, slug: str | None) -> LinkTarget | None:
    """rules.links.selectors.link_target, remembered for CLICK_LINK_CACHE_SECONDS when found.
    The LinkTarget is shared by the threads of the process: callers only read it."""
    seconds = getattr(settings, "CLICK_LINK_CACHE_SECONDS", 10)
    key = (code.upper(), None if slug is None else slug.lower())
    now = time.monotonic()
    hit = _targets.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    db = router.db_for_read(Participant)
    target = unpinged(db, lambda: link_target(code=code, slug=slug))
    if target is not None and seconds > 0:
        if len(_targets) >= MAX_ENTRIES:
            _targets.clear()
        _targets[key] = (now + seconds, target)
    return target


def forget_all() -> None:
    _targets.clear()


@receiver(post_save, sender=Program, dispatch_uid="links_cache_program_saved")
@receiver(post_delete, sender=Program, dispatch_uid="links_cache_program_deleted")
@receiver(post_save, sender=Participant, dispatch_uid="links_cache_participant_saved")
@receiver(post_delete, sender=Participant, dispatch_uid="links_cache_participant_deleted")
@receiver(post_save, sender=ReferralLink, dispatch_uid="links_cache_link_saved")
@receiver(post_delete, sender=ReferralLink, dispatch_uid="links_cache_link_deleted")
def _forget(**kwargs: Any) -> None:
    # Now, and again once the change commits: a request of this process between the two
    # would have remembered the row as it was before.
    forget_all()
    transaction.on_commit(forget_all, using=kwargs.get("using"))
