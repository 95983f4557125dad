"""Draft a rule with a Groq-hosted model, constrained by the rule JSON Schema.

Uses the real ``groq`` SDK with Structured Outputs (``response_format`` of type
``json_schema``) at temperature 0. The answer is parsed here and validated by the caller
(rules.nl); any API or parse failure raises LLMError, and the caller falls back to the
offline parser.
"""

from __future__ import annotations

import json
from typing import Any, Final

import groq
import httpx

from rules.validation import rule_schema

DEFAULT_MODEL: Final = "openai/gpt-oss-20b"  # supports the json_schema response format
TIMEOUT_SECONDS: Final = 20.0

_SYSTEM: Final = """You turn a referral programme manager's sentence into one rule definition.
Answer with a single JSON object that matches the given JSON Schema, nothing else.
- trigger: one of the triggers listed below; fields: only the fields listed for that trigger, or
  free-form profile attributes as referred.<attr>, referrer.<attr>, parent.<attr>.
- Money is an integer in minor units of the program's currency (500 rupees = 50000 with
  currency "INR"; 5 dollars = 500 "USD"; 500 yen = 500 "JPY"), in actions and in conditions on
  a money field alike ("orders over 5000 rupees": event.amount greater_than 500000). The money
  fields of each trigger are listed below.
- "unless", "except", "not from" negate: use not_equals / not_in, or a NOT group.
- Percentages are rate_bps (10% = 1000) of event.amount; a cap is in minor units.
- beneficiary: "referrer" (who referred the user, the default), "referred" (the user) or
  "parent" (the referrer's referrer). "Both" is two actions: referrer and referred.
- Partner tiers: referrer.tier holds the tier key in lower case ("Gold partners get 15%":
  referrer.tier equals "gold" and a 15% commission, rate_bps 1500, on purchase).
- A schedule ("from 1 January until 31 March 2027") is active_from / active_until, RFC 3339
  with an offset (UTC when none is given): active_from at the start of the first day,
  active_until at the start of the day after the last.
- "and stop other rules": stop_processing true.
- priority 10 and stop_processing false unless the sentence says otherwise.
Triggers and their fields (name: type):
"""


class LLMError(Exception):
    """The model could not be reached or gave no usable rule."""


def _model_name(model: str) -> str:
    if model:
        return model
    try:
        from django.conf import settings

        return getattr(settings, "GROQ_MODEL", "") or DEFAULT_MODEL
    except Exception:  # settings not configured (a plain script): use the default
        return DEFAULT_MODEL


def _catalog_text(catalog: dict[str, Any]) -> str:
    lines = []
    for name, trigger in sorted(catalog["triggers"].items()):
        fields = ", ".join(f"{path}: {kind}" for path, kind in sorted(trigger["fields"].items()))
        line = f"- {name} ({trigger.get('description', '')}): {fields}"
        if trigger.get("money"):
            line += f"; money (minor units): {', '.join(trigger['money'])}"
        lines.append(line)
    return "\n".join(lines)


def build_request(
    text: str,
    *,
    catalog: dict[str, Any],
    model: str = "",
    currency: str = "INR",
    json_object: bool = False,
    tiers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The chat.completions.create arguments (kept separate so tests can compare).

    Structured output: ``response_format`` of type ``json_schema`` with the rule schema; with
    ``json_object`` (for a model that does not take a schema) the schema goes in the prompt."""
    system = _SYSTEM + _catalog_text(catalog) + f"\nThe program's currency is {currency}."
    if tiers:
        listed = ", ".join(f'"{key}" ({name})' for key, name in sorted(tiers.items()))
        system += f"\nThe program's partner tiers (referrer.tier values): {listed}."
    if json_object:
        system += "\nThe JSON Schema of the answer:\n" + json.dumps(rule_schema())
    request: dict[str, Any] = {
        "model": _model_name(model),
        "temperature": 0,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": text},
        ],
    }
    if json_object:
        request["response_format"] = {"type": "json_object"}
        return request
    return {
        **request,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "referral_rule",
                "description": "A referral rule definition (SPEC §6)",
                # The schema uses if/then, which strict mode does not accept; the answer is
                # validated afterwards anyway.
                "schema": rule_schema(),
                "strict": False,
            },
        },
    }


def draft_with_llm(
    text: str,
    *,
    catalog: dict[str, Any],
    api_key: str,
    model: str = "",
    http_client: httpx.Client | None = None,
    base_url: str | None = None,
    currency: str = "INR",
    tiers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The model's rule definition (not yet validated). Raises LLMError.

    A model that refuses the json_schema response format (HTTP 400 naming it) is asked again
    in JSON mode with the schema in the prompt."""
    client = groq.Groq(
        api_key=api_key,
        http_client=http_client,
        base_url=base_url,
        max_retries=1,
        timeout=TIMEOUT_SECONDS,
    )
    try:
        try:
            completion = client.chat.completions.create(
                **build_request(text, catalog=catalog, model=model, currency=currency, tiers=tiers)
            )
        except groq.BadRequestError as exc:
            if "json_schema" not in str(exc) and "response_format" not in str(exc):
                raise
            completion = client.chat.completions.create(
                **build_request(
                    text,
                    catalog=catalog,
                    model=model,
                    currency=currency,
                    json_object=True,
                    tiers=tiers,
                )
            )
    except groq.APIError as exc:
        raise LLMError(f"Groq API error: {exc.__class__.__name__}") from exc
    if not completion.choices or not completion.choices[0].message.content:
        raise LLMError("the model returned no content")
    content = completion.choices[0].message.content
    try:
        definition = json.loads(content)
    except json.JSONDecodeError as exc:
        raise LLMError("the model's answer is not JSON") from exc
    if not isinstance(definition, dict):
        raise LLMError("the model's answer is not a JSON object")
    return definition
