"""The API's JSON parser (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES): DRF's, plus what no body
may hold (SPEC §1), each 400 `validation_error` before a view sees the data:

- nesting deeper than 64 levels (Python's decoder recurses once per level: a deep enough body
  was a RecursionError, a 500);
- NUL (\\u0000) or an unpaired surrogate in any key or string (PostgreSQL refuses NUL in text
  and a surrogate cannot be encoded: a 500 at the first query that stored it).

Kept apart from config.platform.api.errors, which imports DRF's views: DRF reads this setting while it
defines them.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from config.platform.exceptions import ValidationFailed

# SPEC §1: "nesting deeper than 64 levels is 400". A view may allow more (rule definitions:
# 32 condition groups take two levels each), never less.
MAX_JSON_DEPTH = 64
# Characters no stored text can hold: NUL (PostgreSQL text) and lone surrogates (not UTF-8).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_json(data: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise ValidationFailed if `data` (parsed JSON) nests deeper than `max_depth` or holds a
    string or key that cannot be stored. Iterative: the input may be very deep."""
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, str):
            if UNSTORABLE.search(node):
                _unstorable(path)
        elif isinstance(node, dict | list):
            if depth > max_depth:
                raise ValidationFailed(
                    f"The JSON body nests deeper than {max_depth} levels.",
                    errors=[
                        {"field": path or "body", "message": f"deeper than {max_depth} levels"}
                    ],
                )
            if isinstance(node, dict):
                for key, value in node.items():
                    if UNSTORABLE.search(key):
                        _unstorable(path or "body")
                    stack.append((value, f"{path}.{key}" if path else key, depth + 1))
            else:
                stack.extend(
                    (value, f"{path}.{i}" if path else str(i), depth + 1)
                    for i, value in enumerate(node)
                )


def _unstorable(field: str) -> None:
    raise ValidationFailed(
        "Text may not contain NUL (\\u0000) or unpaired surrogate characters.",
        errors=[{"field": field or "body", "message": "contains NUL or an unpaired surrogate"}],
    )


class GuardedJSONParser(JSONParser):
    """DRF's JSON parser, plus `check_json`; a body too deep for the decoder is 400 too. A view
    may raise the depth limit with a `max_json_depth` attribute."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels"
            ) from None
        view = (parser_context or {}).get("view")
        check_json(data, max_depth=max(MAX_JSON_DEPTH, getattr(view, "max_json_depth", 0)))
        return data
