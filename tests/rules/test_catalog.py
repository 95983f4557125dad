"""The trigger and field catalog."""

from __future__ import annotations

import pytest

from rules.catalog import (
    BUILTIN_TRIGGERS,
    FIELD_TYPES,
    catalog_for,
    custom_catalog_errors,
    field_type,
    money_fields,
)


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


MALFORMED = [
    [],
    {"triggers": []},
    {"triggers": {"Order.Paid": {"fields": {}}}},
    {"triggers": {"app_installed": "yes"}},
    {"triggers": {"app_installed": {"fields": ["event.store"]}}},
    {"triggers": {"app_installed": {"fields": {"event.store": "text"}}}},
    {"triggers": {"app_installed": {"fields": {"store": "string"}}}},
    {"triggers": {"app_installed": {"description": 5}}},
]


@pytest.mark.parametrize("custom", MALFORMED)
def test_malformed_custom_catalog_is_reported_and_ignored(custom):
    """A bad entry saved earlier must not make every request of the program a 500."""
    assert custom_catalog_errors(custom)
    catalog = catalog_for(custom)
    assert set(BUILTIN_TRIGGERS) <= set(catalog["triggers"])
    assert all(
        kind in FIELD_TYPES for t in catalog["triggers"].values() for kind in t["fields"].values()
    )
    assert "Order.Paid" not in catalog["triggers"]


def test_well_formed_custom_catalog_has_no_errors():
    custom = {"triggers": {"app_installed": {"description": "x", "fields": {"event.n": "integer"}}}}
    assert custom_catalog_errors(custom) == [] and custom_catalog_errors({}) == []
    assert catalog_for(custom)["triggers"]["app_installed"]["fields"]["event.n"] == "integer"


@pytest.mark.django_db
def test_rules_settings_clean_refuses_a_malformed_catalog(program):
    from django.core.exceptions import ValidationError

    from rules.models import RuleProgramConfig

    config = RuleProgramConfig(program=program, custom_catalog=MALFORMED[5])
    with pytest.raises(ValidationError) as excinfo:
        config.full_clean()
    assert "custom_catalog" in excinfo.value.message_dict
    RuleProgramConfig(program=program, custom_catalog={}).full_clean()


def test_referral_created_offers_the_referrer():
    assert field_type(catalog_for(), "referral_created", "event.referrer") == "string"


@pytest.mark.django_db
def test_catalog_api_survives_a_malformed_saved_catalog(api, url, program):
    from rules.models import RuleProgramConfig

    RuleProgramConfig.objects.create(program=program, custom_catalog={"triggers": []})
    response = api.get(url("rules/catalog"))
    assert response.status_code == 200


def test_money_fields_are_listed_per_trigger():
    triggers = catalog_for()["triggers"]
    for name in ("purchase", "subscription_started", "subscription_renewed", "refund"):
        assert triggers[name]["money"] == ["event.amount"], name
    assert triggers["signup"]["money"] == [] and triggers["referral_created"]["money"] == []
    assert money_fields(None) == {"event.amount"}
    assert money_fields(None, "signup") == frozenset()
    # the money list does not change a field's type: validation reads "number" as before
    assert triggers["purchase"]["fields"]["event.amount"] == "number"


def test_participants_have_a_tier():
    fields = catalog_for()["triggers"]["purchase"]["fields"]
    for role in ("referred", "referrer", "parent"):
        assert fields[f"{role}.tier"] == "string"


def test_a_custom_catalog_declares_money_fields():
    custom = {
        "triggers": {
            "deal_won": {
                "description": "a deal is won",
                "fields": {"event.deal_value": "integer", "event.owner": "string"},
                "money": ["event.deal_value"],
            },
            # a built-in trigger gains a money field of its own
            "purchase": {"fields": {"event.shipping": "number"}, "money": ["event.shipping"]},
        }
    }
    assert custom_catalog_errors(custom) == []
    catalog = catalog_for(custom)
    assert catalog["triggers"]["deal_won"]["money"] == ["event.deal_value"]
    assert catalog["triggers"]["purchase"]["money"] == ["event.amount", "event.shipping"]
    assert money_fields(catalog, "deal_won") == {"event.deal_value"}
    assert money_fields(catalog) == {"event.amount", "event.shipping", "event.deal_value"}
    assert catalog_for()["triggers"]["purchase"]["money"] == ["event.amount"]


@pytest.mark.parametrize(
    ("money", "error"),
    [
        ("event.deal_value", "'money' must be a list of field paths"),
        ([5], "'money' lists field paths, not 5"),
        (["event.owner"], "money field 'event.owner' must be one of the trigger's number"),
        (["event.nowhere"], "money field 'event.nowhere' must be one of the trigger's number"),
    ],
)
def test_a_bad_money_list_is_reported_and_ignored(money, error):
    custom = {
        "triggers": {
            "deal_won": {
                "fields": {"event.deal_value": "integer", "event.owner": "string"},
                "money": money,
            }
        }
    }
    errors = custom_catalog_errors(custom)
    assert any(error in e for e in errors), errors
    assert catalog_for(custom)["triggers"]["deal_won"]["money"] == []


@pytest.mark.django_db
def test_catalog_api_lists_money_fields_and_tiers(api, url, program):
    from rules.models import RuleProgramConfig

    RuleProgramConfig.objects.create(
        program=program,
        custom_catalog={
            "triggers": {
                "deal_won": {
                    "fields": {"event.deal_value": "integer"},
                    "money": ["event.deal_value"],
                }
            }
        },
    )
    body = api.get(url("rules/catalog")).json()
    assert body["triggers"]["purchase"]["money"] == ["event.amount"]
    assert body["triggers"]["signup"]["money"] == []
    assert body["triggers"]["deal_won"]["money"] == ["event.deal_value"]
    assert body["triggers"]["purchase"]["fields"]["referrer.tier"] == "string"


@pytest.mark.django_db
def test_rules_settings_clean_refuses_a_money_list_naming_a_text_field(program):
    from django.core.exceptions import ValidationError

    from rules.models import RuleProgramConfig

    custom = {
        "triggers": {"deal_won": {"fields": {"event.owner": "string"}, "money": ["event.owner"]}}
    }
    with pytest.raises(ValidationError) as excinfo:
        RuleProgramConfig(program=program, custom_catalog=custom).full_clean()
    assert "money field 'event.owner'" in str(excinfo.value.message_dict["custom_catalog"])
