"""Billing providers: one module each, registered at start-up (see base.py)."""

from __future__ import annotations

import importlib
import pkgutil

from rules.billing.providers.base import (
    BillingProvider,
    Ignored,
    Lookup,
    PaymentEvent,
    RefundEvent,
    SignatureInvalid,
    provider_get,
    provider_names,
)

__all__ = [
    "BillingProvider",
    "Ignored",
    "Lookup",
    "PaymentEvent",
    "RefundEvent",
    "SignatureInvalid",
    "autodiscover",
    "provider_get",
    "provider_names",
]


def autodiscover() -> None:
    """Import every provider module of this package; each registers itself."""
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")
