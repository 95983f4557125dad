"""Strict input fields and helpers every API layer shares: exact integers, currencies, aware
times, objects that refuse unknown keys, and `validated`/`rendered` around DRF serializers."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from config.platform.currencies import CURRENCY_RE, MAX_AMOUNT
from config.platform.exceptions import ValidationFailed
from config.platform.identifiers import PARTICIPANT_ID_RE

S = TypeVar("S", bound=serializers.Serializer)


# PostgreSQL's timestamptz takes UTC offsets up to 15:59:59; Python's up to 23:59:59.
MAX_UTC_OFFSET = timedelta(hours=16)


def aware_time(raw: Any) -> datetime | None:
    """An RFC 3339 time with a timezone, in UTC; None for anything else: not a string, no
    timezone, an impossible date (2026-02-30), an offset of 16 hours or more (-19:47), or a time
    that leaves Python's years 1-9999 once in UTC (each of these was a 500 at the database)."""
    if not isinstance(raw, str):
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:  # well-formed but impossible, e.g. 2026-02-30
        return None
    if value is None or value.tzinfo is None:
        return None
    offset = value.utcoffset()
    if offset is None or abs(offset) >= MAX_UTC_OFFSET:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


def query_time(name: str, raw: str) -> datetime:
    """A query parameter that must be an RFC 3339 time with a timezone."""
    value = aware_time(raw)
    if value is None:
        raise ValidationFailed(
            f"{name} must be an RFC 3339 time with a timezone, e.g. 2026-01-31T00:00:00Z.",
            errors=[{"field": name, "message": "invalid time"}],
        )
    return value


class StrictIntegerField(serializers.IntegerField):
    """An integer in minor units: JSON numbers only (no floats, no strings, no booleans)."""

    default_error_messages = {
        "invalid": "Must be an integer number of minor units (not a float or string)."
    }

    def to_internal_value(self, data: Any) -> int:
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class AmountField(StrictIntegerField):
    """A positive amount in minor units, at most the money limit (MAX_AMOUNT, 10^15: the schema
    shows it as `maximum`). A booking that would take an account's stored totals past what the
    ledger holds (a bigint) is refused too: 400 `validation_error`, nothing written."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_AMOUNT)
        kwargs.setdefault(
            "help_text",
            f"Minor units, 1 to {MAX_AMOUNT} (the money limit). A posting that would take an "
            "account's totals past 9223372036854775807 is refused: 400 validation_error.",
        )
        super().__init__(**kwargs)


class CurrencyField(serializers.CharField):
    def __init__(self, **kwargs: Any):
        kwargs.setdefault("min_length", 3)
        kwargs.setdefault("max_length", 3)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not CURRENCY_RE.match(value):
            raise serializers.ValidationError("Must be an ISO 4217 code such as INR.")
        return value


class StrictCharField(serializers.CharField):
    """A JSON string only (DRF's CharField would turn 5 into "5")."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ParticipantIdField(serializers.CharField):
    """A participant's external id, as the ledger can pay it: one segment of an account code
    (`user:{id}:rewards`, SPEC §3), so 1-200 of letters, digits and _ . @ - (no ':', spaces or
    accents). Taken as sent: surrounding spaces are refused, not trimmed."""

    default_error_messages = {
        "participant_id": "1-200 characters: letters, digits, _ . @ - (it names the ledger "
        "account user:{{id}}:rewards)."
    }

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("max_length", 200)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not PARTICIPANT_ID_RE.fullmatch(value):
            self.fail("participant_id")
        return value


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if type(data) is not bool:
            self.fail("invalid", input=data)
        return data


class JSONObjectField(serializers.JSONField):
    def to_internal_value(self, data: Any) -> dict:
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return data


class StrictSerializer(serializers.Serializer):
    """Rejects unknown fields, so a typo ("ammount") is an error rather than silently ignored
    (the OpenAPI schema says `additionalProperties: false`, config.platform.api.schema). A string field
    takes a JSON string only: DRF's CharField would read `"beneficiary": 123` as "123"."""

    refuses_unknown_fields = True

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError({k: ["Unknown field."] for k in sorted(unknown)})
            not_strings: dict[str, Any] = {
                name: ["Must be a string."]
                for name, field in self.fields.items()
                if name in data and data[name] is not None and _wants_string(field, data[name])
            }
            if not_strings:
                try:
                    super().to_internal_value(data)
                except serializers.ValidationError as exc:  # report every field's error
                    if isinstance(exc.detail, dict):
                        not_strings = {**exc.detail, **not_strings}
                raise serializers.ValidationError(not_strings)
        return super().to_internal_value(data)


def _wants_string(field: serializers.Field, value: Any) -> bool:
    """Whether `value` is not the JSON string (or list of strings) that `field` reads."""
    if isinstance(field, serializers.CharField):
        return not isinstance(value, str)
    if isinstance(field, serializers.ListField) and isinstance(field.child, serializers.CharField):
        return isinstance(value, list) and any(not isinstance(v, str) for v in value)
    return False


_prototypes = threading.local()


def _prototype(serializer_class: type[S]) -> S:
    """One context-free instance per serializer class and thread, its fields bound once.

    DRF deep-copies every declared field into each new serializer instance: about 1 ms of CPU
    per request for a reward's input and output, more than validating and rendering them.
    Validating (`run_validation`) and rendering (`to_representation`) only read the bound
    fields and keep nothing in the instance, so reusing it gives the same result
    (tests/ledger/test_serializers.py compares both paths)."""
    cache: dict[Any, Any] = _prototypes.__dict__
    serializer = cache.get(serializer_class)
    if serializer is None:
        serializer = cache[serializer_class] = serializer_class()
        serializer.fields  # noqa: B018  (binds the fields now, once)
    return serializer


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """The serializer's validated data; invalid input raises ValidationError with the same
    detail as `is_valid(raise_exception=True)` (rendered as problem+json)."""
    try:
        return _prototype(serializer_class).run_validation(data)
    except serializers.ValidationError:
        # Invalid input is rare: a fresh serializer words the errors exactly as DRF's
        # `is_valid` does (it rewrites a few, e.g. null data as "No data provided").
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def rendered(serializer_class: type[serializers.Serializer], instance: Any) -> Any:
    """`serializer_class(instance).data`, without building a serializer per call."""
    return _prototype(serializer_class).to_representation(instance)


def rendered_many(serializer_class: type[serializers.Serializer], items: Iterable[Any]) -> list:
    """`serializer_class(items, many=True).data`, without building a serializer per call."""
    serializer = _prototype(serializer_class)
    return [serializer.to_representation(item) for item in items]


class ReasonSerializer(StrictSerializer):
    reason = StrictCharField(max_length=2000, help_text="Why; kept in the history and audit log.")
