"""The admin index's dashboard, filled by the apps that own what it shows.

The platform draws the page (templates/admin/index.html, the `ledger_dashboard` tags); each app
registers at `AppConfig.ready()`:

- **attention cards**: what waits for an operator across all programs ("3 held rewards awaiting
  review"), a function of the request returning the items this user may see (usually one, none
  without the permission), placed by `order`;
- **program panels**: numbers for the chosen program's charts, a function of the program
  returning keys of the page's data (merged in registration order), shown to users with
  `permission`.

An attention item is a dict: key, value (a count or a word), label, url, level ("ok", "warn" or
"alert") and optionally when and stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.db.models import Model
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from config.platform.models import Program

AttentionItems = Callable[[HttpRequest], list[dict[str, Any]]]
PanelData = Callable[[Program], dict[str, Any]]


@dataclass(frozen=True)
class _Card:
    order: int
    items: AttentionItems


@dataclass(frozen=True)
class _Panel:
    permission: str
    data: PanelData


_cards: dict[str, _Card] = {}
_panels: dict[str, _Panel] = {}


def attention_card_register(name: str, items: AttentionItems, *, order: int) -> None:
    """Add (or replace) the card `name`; cards show by ascending `order`."""
    _cards[name] = _Card(order, items)


def program_panel_register(name: str, data: PanelData, *, permission: str) -> None:
    """Add (or replace) the panel `name`; its keys join the program's dashboard data."""
    _panels[name] = _Panel(permission, data)


def attention_items(request: HttpRequest) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for card in sorted(_cards.values(), key=lambda c: c.order):
        items += card.items(request)
    return items


def program_panels(request: HttpRequest) -> list[PanelData]:
    """The panels this user may see, in registration order."""
    return [p.data for p in _panels.values() if request.user.has_perm(p.permission)]


def changelist_url(request: HttpRequest, model: type[Model], query: str = "") -> str | None:
    """The admin change list of `model` if this user may see it, else None."""
    try:
        model_admin = admin.site.get_model_admin(model)
    except NotRegistered:
        return None
    if not model_admin.has_view_or_change_permission(request):
        return None
    opts = model._meta
    try:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    except NoReverseMatch:
        return None
    return f"{url}?{query}" if query else url


def count_item(
    key: str, count: int, singular: str, plural: str, url: str, *, level: str
) -> dict[str, Any]:
    """An attention item that counts something; "ok" when there is nothing."""
    return {
        "key": key,
        "value": count,
        "label": singular if count == 1 else plural,
        "url": url,
        "level": level if count else "ok",
    }
