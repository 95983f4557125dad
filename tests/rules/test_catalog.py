"""The trigger and field catalog."""

from __future__ import annotations

import pytest

from rules.catalog import BUILTIN_TRIGGERS, FIELD_TYPES, catalog_for, field_type


def test_builtin_triggers_and_common_fields():
    catalog = catalog_for()
    assert {"signup", "referral_created", "subscription_started", "purchase", "refund"} <= set(
        catalog["triggers"]
    )
    purchase = catalog["triggers"]["purchase"]
    assert purchase["description"] == BUILTIN_TRIGGERS["purchase"]["description"]
    fields = purchase["fields"]
    assert fields["event.amount"] == "number"
    assert fields["event.occurred_at"] == "datetime"
    for role in ("referred", "referrer", "parent"):
        assert fields[f"{role}.id"] == "string"
        assert fields[f"{role}.joined_at"] == "datetime"
        assert fields[f"{role}.referrals_count"] == "integer"
    assert "event.amount" not in catalog["triggers"]["signup"]["fields"]
    assert all(
        kind in FIELD_TYPES for t in catalog["triggers"].values() for kind in t["fields"].values()
    )


def test_custom_triggers_and_fields_merge():
    catalog = catalog_for(
        {
            "triggers": {
                "app_installed": {
                    "description": "the app is installed",
                    "fields": {"event.store": "string"},
                },
                "purchase": {"fields": {"event.coupon": "string"}},
            }
        }
    )
    assert catalog["triggers"]["app_installed"]["description"] == "the app is installed"
    assert catalog["triggers"]["app_installed"]["fields"]["event.store"] == "string"
    assert catalog["triggers"]["app_installed"]["fields"]["referrer.id"] == "string"
    assert catalog["triggers"]["purchase"]["fields"]["event.coupon"] == "string"
    assert catalog["triggers"]["purchase"]["fields"]["event.amount"] == "number"
    # the built-ins are not changed for other programs
    assert "event.coupon" not in catalog_for()["triggers"]["purchase"]["fields"]


def test_field_type():
    catalog = catalog_for()
    assert field_type(catalog, "purchase", "event.amount") == "number"
    assert field_type(catalog, "purchase", "referrer.favourite_colour") is None  # free-form
    assert field_type(catalog, "purchase", "parent.anything") is None
    with pytest.raises(KeyError):
        field_type(catalog, "purchase", "event.colour")
    with pytest.raises(KeyError):
        field_type(catalog, "purchase", "referrer")
