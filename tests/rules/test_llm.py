"""LLM drafting through the real groq SDK; only its HTTP transport is mocked."""

from __future__ import annotations

import json

import httpx
import pytest

from rules.catalog import catalog_for
from rules.nl import draft_from_text
from rules.validation import SCHEMA
from tests.rules.test_validation import EXAMPLE

CATALOG = catalog_for()
SENTENCE = "When a paid user refers someone who subscribes to premium, reward 500 rupees voucher"


def completion(content, model="test-model"):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "logprobs": None,
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def client_returning(*responses):
    """An httpx client whose transport answers with the given (status, body) in turn and
    records the requests."""
    requests: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        status, body = queue.pop(0)
        return httpx.Response(status, json=body)

    return httpx.Client(transport=httpx.MockTransport(handler)), requests


def draft(http_client, **kwargs):
    return draft_from_text(
        SENTENCE,
        catalog=CATALOG,
        api_key="gsk-test",
        model="test-model",
        http_client=http_client,
        **kwargs,
    )


def test_llm_request_and_parsed_result():
    http_client, requests = client_returning((200, completion(json.dumps(EXAMPLE))))
    result = draft(http_client)
    assert result == {"definition": EXAMPLE, "source": "llm", "warnings": []}

    [request] = requests
    assert request.method == "POST"
    assert request.url.path.endswith("/chat/completions")
    assert request.headers["authorization"] == "Bearer gsk-test"
    body = json.loads(request.content)
    assert body["model"] == "test-model"
    assert body["temperature"] == 0
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "referral_rule"
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    system, user = body["messages"]
    assert system["role"] == "system" and "subscription_started" in system["content"]
    assert "referrer.is_paid_user: boolean" in system["content"]
    assert user == {"role": "user", "content": SENTENCE}


def test_model_defaults_to_settings(settings):
    settings.GROQ_MODEL = "configured-model"
    http_client, requests = client_returning((200, completion(json.dumps(EXAMPLE))))
    draft_from_text(SENTENCE, catalog=CATALOG, api_key="k", http_client=http_client)
    assert json.loads(requests[0].content)["model"] == "configured-model"


def test_an_invalid_rule_from_the_model_comes_back_with_warnings():
    bad = {**EXAMPLE, "trigger": "birthday"}
    http_client, _ = client_returning((200, completion(json.dumps(bad))))
    result = draft(http_client)
    assert result["source"] == "llm"
    assert result["definition"] == bad
    assert result["warnings"] == [
        "$.trigger: unknown trigger 'birthday' (known: purchase, referral_created, refund, "
        "signup, subscription_renewed, subscription_started)"
    ]


@pytest.mark.parametrize("content", ["not json at all", "[1, 2]", "", "```json\n{}\n```"])
def test_malformed_output_falls_back_to_offline(content):
    http_client, _ = client_returning((200, completion(content)))
    result = draft(http_client)
    assert result["source"] == "offline"
    assert result["definition"] == EXAMPLE
    assert result["warnings"][0].startswith("the language model failed (")
    assert result["warnings"][0].endswith("drafted offline instead")


@pytest.mark.parametrize("status", [400, 401, 429, 503])
def test_api_errors_fall_back_to_offline(status):
    error = {"error": {"message": "nope", "type": "invalid_request_error"}}
    # 429 and 5xx are retried once by the SDK
    http_client, requests = client_returning((status, error), (status, error))
    result = draft(http_client)
    assert result["source"] == "offline"
    assert result["definition"] == EXAMPLE
    assert "Groq API error" in result["warnings"][0]
    assert len(requests) == (2 if status >= 429 else 1)


def test_no_api_key_never_calls_out():
    http_client, requests = client_returning()
    result = draft_from_text(SENTENCE, catalog=CATALOG, http_client=http_client)
    assert result["source"] == "offline" and requests == []


def test_the_prompt_names_money_fields_tiers_and_schedules():
    http_client, requests = client_returning((200, completion(json.dumps(EXAMPLE))))
    draft(http_client, currency="JPY")
    system = json.loads(requests[0].content)["messages"][0]["content"]
    assert "- purchase (a purchase is made): " in system
    purchase = next(line for line in system.splitlines() if line.startswith("- purchase "))
    assert purchase.endswith("; money (minor units): event.amount")
    signup = next(line for line in system.splitlines() if line.startswith("- signup "))
    assert "money" not in signup and "referrer.tier: string" in signup
    assert 'referrer.tier equals "gold"' in system
    assert "active_from / active_until" in system
    assert "The program's currency is JPY." in system


GOLD = "Gold partners get 15% of every purchase"


def commission_rule(conditions):
    return {
        "name": "Gold commission",
        "trigger": "purchase",
        "priority": 10,
        "stop_processing": False,
        "conditions": {"operator": "AND", "conditions": conditions},
        "actions": [
            {
                "type": "percent_commission",
                "params": {
                    "beneficiary": "referrer",
                    "rate_bps": 1500,
                    "of": "event.amount",
                    "reward_type": "cash",
                },
            }
        ],
    }


def test_a_tier_rule_from_the_model_validates_and_agrees_with_the_offline_reading():
    rule = commission_rule([{"field": "referrer.tier", "operator": "equals", "value": "gold"}])
    http_client, _ = client_returning((200, completion(json.dumps(rule))))
    result = draft_from_text(GOLD, catalog=CATALOG, api_key="k", model="m", http_client=http_client)
    assert result == {"definition": rule, "source": "llm", "warnings": []}


def test_a_model_that_reads_money_conditions_in_major_units_is_flagged():
    """ "orders over 5000 rupees" is 500000 paise: a model's 5000 (₹50) is called out."""
    text = "15% of the order to the referrer for orders over 5000 rupees"
    rule = commission_rule([{"field": "event.amount", "operator": "greater_than", "value": 5000}])
    http_client, _ = client_returning((200, completion(json.dumps(rule))))
    result = draft_from_text(text, catalog=CATALOG, api_key="k", model="m", http_client=http_client)
    assert result["source"] == "llm"
    assert result["warnings"] == [
        "the model's draft differs from the offline reading of the sentence in: conditions; "
        "check them"
    ]


def test_a_model_that_drops_the_schedule_is_flagged():
    text = "Gold partners get 15% of every purchase from 1 January 2027 until 31 March 2027"
    rule = commission_rule([{"field": "referrer.tier", "operator": "equals", "value": "gold"}])
    scheduled = {
        **rule,
        "active_from": "2027-01-01T00:00:00Z",
        "active_until": "2027-04-01T00:00:00Z",
    }
    http_client, _ = client_returning((200, completion(json.dumps(scheduled))))
    result = draft_from_text(text, catalog=CATALOG, api_key="k", model="m", http_client=http_client)
    assert result["warnings"] == []  # "Z" is "+00:00"
    http_client, _ = client_returning((200, completion(json.dumps(rule))))
    result = draft_from_text(text, catalog=CATALOG, api_key="k", model="m", http_client=http_client)
    assert result["warnings"] == [
        "the model's draft differs from the offline reading of the sentence in: schedule; "
        "check them"
    ]
