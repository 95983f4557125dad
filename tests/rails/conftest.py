"""Fixtures for the payout rails: the local Stripe and PayPal stubs, the settings that point the
official SDKs at them, and a guard that fails any connection to a host other than loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.rails.stub_servers import PayPalStub, StripeStub

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(autouse=True)
def no_internet(monkeypatch, settings):
    """Every socket a rail test opens goes to loopback (or the test database's host): a
    connection anywhere else (PayPal's or Stripe's real hosts, if a base URL were not taken)
    fails the test."""
    db_hosts = {db["HOST"] for db in settings.DATABASES.values() if db.get("HOST")}
    allowed = LOOPBACK | db_hosts
    for host in db_hosts - LOOPBACK:  # a database in another container: its addresses too
        try:
            allowed |= {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
        except OSError:
            pass
    original = socket.socket.connect
    original_getaddrinfo = socket.getaddrinfo
    attempts: list[object] = []

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, bytes):
            host = host.decode()
        if host not in allowed and host is not None:
            attempts.append(host)
            raise AssertionError(f"a rail test tried to resolve {host!r}")
        return original_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in allowed and self.family != socket.AF_UNIX:
            attempts.append(address)
            raise AssertionError(f"a rail test tried to reach {address!r}")
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert not attempts, attempts


@pytest.fixture
def stripe_stub(settings) -> Iterator[StripeStub]:
    with StripeStub() as stub:
        settings.STRIPE_SECRET_KEY = stub.api_key
        settings.STRIPE_API_BASE = stub.url
        yield stub


@pytest.fixture
def paypal_stub(settings) -> Iterator[PayPalStub]:
    with PayPalStub() as stub:
        settings.PAYPAL_CLIENT_ID = stub.client_id
        settings.PAYPAL_CLIENT_SECRET = stub.client_secret
        settings.PAYPAL_ENVIRONMENT = "sandbox"
        settings.PAYPAL_BASE_URL = stub.url
        yield stub
