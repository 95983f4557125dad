"""System checks for the provider rails' settings."""

from __future__ import annotations

from rules.rewards.rails.providers import check_rail_endpoints, check_rail_settings


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def test_the_defaults_are_clean(settings):
    settings.PAYPAL_ENVIRONMENT = "sandbox"
    settings.PAYPAL_CLIENT_ID = settings.PAYPAL_CLIENT_SECRET = settings.PAYPAL_BASE_URL = ""
    settings.STRIPE_API_BASE = "https://api.stripe.com"
    assert check_rail_settings(None) == [] and check_rail_endpoints(None) == []


def test_an_unknown_paypal_environment_is_an_error(settings):
    settings.PAYPAL_ENVIRONMENT = "live"
    assert ids(check_rail_settings(None)) == ["rails.E001"]


def test_half_a_paypal_credential_pair_is_a_warning(settings):
    settings.PAYPAL_CLIENT_ID, settings.PAYPAL_CLIENT_SECRET = "id", ""
    assert ids(check_rail_settings(None)) == ["rails.W001"]


def test_a_plain_http_provider_url_is_a_deploy_warning(settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:12111"
    settings.PAYPAL_BASE_URL = "http://127.0.0.1:12112"
    assert ids(check_rail_endpoints(None)) == ["rails.W002", "rails.W002"]
