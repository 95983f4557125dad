"""Hot-path SQL written once per process, read back into model instances with the ORM's own
converters (the API key lookup in config.platform.api.auth, the event pipeline in rules).

Compiling an ORM query costs more CPU than PostgreSQL spends running it (about 0.3-0.5 ms
each); the event pipeline runs a handful per event. These helpers keep the column lists, the
converters and the instance construction identical to what the ORM would do, so a model
change (a new column, a renamed one) flows through without editing the SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.db import connections
from django.db.models import Field, Model


@dataclass(frozen=True)
class Columns:
    """One model's concrete columns under a table alias, and how to turn them back into an
    instance."""

    model: type[Model]
    alias: str
    sql: list[str]
    names: list[str]
    converters: list[tuple[Any, list]]

    def load(self, db: str, values: Sequence[Any]) -> Model | None:
        """The instance for this model's slice of a row (None when an outer join found none)."""
        conn = connections[db]
        out = []
        for value, (col, convs) in zip(values, self.converters, strict=True):
            if value is not None:
                for convert in convs:
                    value = convert(value, col, conn)
            out.append(value)
        if out[0] is None:  # the primary key comes first
            return None
        return self.model.from_db(db, self.names, out)


def columns(model: type[Model], alias: str, db: str) -> Columns:
    conn = connections[db]
    fields: list[Field] = list(model._meta.concrete_fields)
    pk = model._meta.pk
    fields.sort(key=lambda f: f is not pk)  # the primary key first: load() tests it
    converters = []
    for field in fields:
        col = field.get_col(alias)
        converters.append((col, conn.ops.get_db_converters(col) + col.get_db_converters(conn)))
    return Columns(
        model=model,
        alias=alias,
        sql=[f"{alias}.{conn.ops.quote_name(cast(str, f.column))}" for f in fields],
        names=[cast(str, f.attname) for f in fields],
        converters=converters,
    )


def split(row: Sequence[Any], parts: Sequence[Columns], db: str) -> list[Model | None]:
    """A row of `SELECT {parts[0].sql}, {parts[1].sql}, ...` as one instance per part."""
    out, start = [], 0
    for part in parts:
        end = start + len(part.sql)
        out.append(part.load(db, row[start:end]))
        start = end
    return out


def insert_columns(model: type[Model], db: str) -> tuple[list[Field], str]:
    """The fields an ORM insert writes (all concrete fields but an auto primary key) and their
    quoted column list."""
    conn = connections[db]
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    return fields, ", ".join(conn.ops.quote_name(cast(str, f.column)) for f in fields)


def insert_params(obj: Model, fields: Sequence[Field], db: str) -> list[Any]:
    """The values an ORM insert of `obj` would send (the same adapters, e.g. JSON)."""
    conn = connections[db]
    return [f.get_db_prep_save(getattr(obj, cast(str, f.attname)), conn) for f in fields]
