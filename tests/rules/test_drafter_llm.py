"""The Groq drafter through the real groq SDK, pointed (base_url) at a local stub HTTP
server this test starts: structured output in the request, the same validation on the answer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rules.catalog import catalog_for
from rules.nl import draft_from_text
from rules.validation import rule_schema

CATALOG = catalog_for()
SENTENCE = "10% of the order to the referrer, capped at 2000, for orders over 5000 INR"
RULE = {
    "name": "Purchase commission",
    "trigger": "purchase",
    "priority": 10,
    "stop_processing": False,
    "conditions": {
        "operator": "AND",
        "conditions": [{"field": "event.amount", "operator": "greater_than", "value": 500000}],
    },
    "actions": [
        {
            "type": "percent_commission",
            "params": {
                "beneficiary": "referrer",
                "rate_bps": 1000,
                "of": "event.amount",
                "reward_type": "cash",
                "cap": 200000,
            },
        }
    ],
}


def completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "stub-model",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "logprobs": None,
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class Stub:
    """A local HTTP server answering chat completions from a queue of (status, body)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                stub.requests.append(
                    {"path": self.path, "body": json.loads(self.rfile.read(length) or b"{}")}
                )
                status, body = stub.answers.pop(0)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.close()


def draft(stub: Stub, text: str = SENTENCE, currency: str = "INR") -> dict[str, Any]:
    return draft_from_text(
        text,
        catalog=CATALOG,
        api_key="gsk-test",
        model="stub-model",
        currency=currency,
        base_url=stub.url,
    )


def test_the_request_asks_for_the_rule_schema_and_a_valid_answer_has_no_warnings(stub):
    stub.answers.append((200, completion(json.dumps(RULE))))
    result = draft(stub)
    assert result == {"definition": RULE, "source": "llm", "warnings": []}
    [request] = stub.requests
    assert request["path"].endswith("/chat/completions")
    body = request["body"]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == rule_schema()
    assert "The program's currency is INR." in body["messages"][0]["content"]


def test_the_answer_is_validated_against_the_program_currency(stub):
    dollars = {
        **RULE,
        "actions": [
            {
                "type": "credit_reward",
                "params": {
                    "beneficiary": "referrer",
                    "amount": 1000,
                    "currency": "USD",
                    "reward_type": "cash",
                },
            }
        ],
    }
    stub.answers.append((200, completion(json.dumps(dollars))))
    result = draft(stub, "When a friend buys, give the referrer $10")
    assert result["source"] == "llm"
    assert result["warnings"] == [
        "$.actions[0].params.currency: currency USD differs from the program's INR"
    ]


def test_an_answer_outside_the_schema_comes_back_with_warnings(stub):
    wrong = {**RULE, "actions": [{"type": "percent_commission", "params": {"rate_bps": 1000}}]}
    stub.answers.append((200, completion(json.dumps(wrong))))
    result = draft(stub)
    assert result["source"] == "llm" and result["definition"] == wrong
    assert result["warnings"] and all(w.startswith("$.actions[0]") for w in result["warnings"])


def test_a_model_without_json_schema_is_asked_in_json_mode_with_the_schema_in_the_prompt(stub):
    refusal = {
        "error": {
            "message": "response_format json_schema is not supported by this model",
            "type": "invalid_request_error",
        }
    }
    stub.answers += [(400, refusal), (200, completion(json.dumps(RULE)))]
    result = draft(stub)
    assert result["source"] == "llm" and result["warnings"] == []
    first, second = stub.requests
    assert first["body"]["response_format"]["type"] == "json_schema"
    assert second["body"]["response_format"] == {"type": "json_object"}
    assert json.dumps(rule_schema()) in second["body"]["messages"][0]["content"]


def test_an_unusable_answer_falls_back_to_the_offline_drafter(stub):
    stub.answers.append((200, completion("I think you want a commission.")))
    result = draft(stub)
    assert result["source"] == "offline"
    assert result["warnings"][0].startswith("the language model failed (")
    assert result["definition"]["actions"][0]["params"]["cap"] == 200000


def test_a_model_that_turns_unless_around_is_caught_by_the_offline_reading(stub):
    text = "When a friend subscribes, give the referrer 300 rupees cash unless they are from the US"
    inverted = {
        "name": "Subscription referral reward",
        "trigger": "subscription_started",
        "priority": 10,
        "stop_processing": False,
        "conditions": {
            "operator": "AND",
            "conditions": [{"field": "referred.country", "operator": "equals", "value": "US"}],
        },
        "actions": [
            {
                "type": "credit_reward",
                "params": {
                    "beneficiary": "referrer",
                    "amount": 30000,
                    "currency": "INR",
                    "reward_type": "cash",
                },
            }
        ],
    }
    stub.answers.append((200, completion(json.dumps(inverted))))
    result = draft(stub, text)
    assert result["source"] == "llm"
    assert result["warnings"] == [
        "the model's draft differs from the offline reading of the sentence in: conditions; "
        "check them"
    ]
    right = {
        **inverted,
        "conditions": {
            "operator": "AND",
            "conditions": [{"field": "referred.country", "operator": "not_equals", "value": "US"}],
        },
    }
    stub.answers.append((200, completion(json.dumps(right))))
    assert draft(stub, text)["warnings"] == []
