"""Secrets at rest: billing signing secrets and partners' payout details (SPEC section 13).

Fernet (the `cryptography` package): authenticated encryption, so a tampered or foreign
ciphertext is refused rather than decrypted to garbage. `FIELD_ENCRYPTION_KEYS` holds one or
more comma-separated Fernet keys; the first encrypts, all of them decrypt, so a key is rotated
by putting the new one first and re-saving (`secret_rotate`). Outside DEBUG a missing key stops
the process at start (config/settings/base.py); in DEBUG and tests a key is derived from
SECRET_KEY so the demo runs with nothing to configure.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """The stored value was not encrypted with any configured key (or was altered)."""


def _derived_key() -> bytes:
    digest = hashlib.sha256(b"referral-ledger field encryption:" + settings.SECRET_KEY.encode())
    return base64.urlsafe_b64encode(digest.digest())


@cache
def _fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()]
    if not keys:
        keys = [_derived_key().decode()]
    return MultiFernet([Fernet(k.encode()) for k in keys])


def secret_encrypt(plaintext: str) -> str:
    """The ciphertext (ASCII) of `plaintext`, under the first configured key."""
    return _fernet().encrypt(plaintext.encode()).decode()


def secret_decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS"
        ) from exc


def secret_rotate(ciphertext: str) -> str:
    """The same secret re-encrypted under the first (newest) key."""
    return _fernet().rotate(ciphertext.encode()).decode()


def json_encrypt(value: Any) -> str:
    return secret_encrypt(json.dumps(value, sort_keys=True, separators=(",", ":")))


def json_decrypt(ciphertext: str) -> Any:
    return json.loads(secret_decrypt(ciphertext))


def mask(value: str, *, keep: int = 4) -> str:
    """`value` with all but its last `keep` characters hidden: "••••1234". Short values are
    hidden whole, so a masked 4-digit PIN does not give itself away."""
    if len(value) <= keep * 2:
        return "•" * len(value)
    return "•" * (len(value) - keep) + value[-keep:]


def mask_email(value: str) -> str:
    """ "a••••@example.com": the first letter and the domain stay readable."""
    local, at, domain = value.partition("@")
    if not at:
        return mask(value)
    return (local[:1] + "•" * max(len(local) - 1, 1)) + "@" + domain


def key_generate() -> str:
    """A new key for FIELD_ENCRYPTION_KEYS (printed by the docs' one-liner)."""
    return Fernet.generate_key().decode()
