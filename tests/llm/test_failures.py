"""HTTP error responses and error payloads map onto the typed errors, without secrets."""

from __future__ import annotations

import json
from email.utils import formatdate

import pytest

from bot.errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMContextTooLong,
    LLMError,
    LLMProtocolError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
)
from bot.llm.failures import MAX_DETAIL, error_from_status, parse_retry_after, summarize


def openai_error(message: str, code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": "x", "code": code}}).encode()


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, LLMAuthError),
        (403, LLMAuthError),
        (429, LLMRateLimited),
        (408, LLMTimeout),
        (409, LLMUnavailable),
        (500, LLMUnavailable),
        (502, LLMUnavailable),
        (503, LLMUnavailable),
        (400, LLMBadRequest),
        (422, LLMBadRequest),
        (302, LLMProtocolError),
    ],
)
def test_status_codes_map_to_typed_errors(status: int, kind: type[LLMError]) -> None:
    err = error_from_status(status, {}, openai_error("boom"), model="m")
    assert type(err) is kind
    assert str(status) in str(err)
    assert "boom" in str(err)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("This model's maximum context length is 8192 tokens. You requested 9000.", None),
        ("prompt is too long: 210000 tokens > 200000 maximum", None),
        ("Too many tokens in the request", None),
        ("Request too large", "context_length_exceeded"),
        ("Input length exceeds the maximum allowed", None),
    ],
)
def test_context_length_messages_become_context_too_long(message: str, code: str | None) -> None:
    err = error_from_status(400, {}, openai_error(message, code), model="m")
    assert isinstance(err, LLMContextTooLong)
    assert "conversation is too long" in err.user_message


def test_other_bad_requests_stay_plain_bad_requests() -> None:
    err = error_from_status(400, {}, openai_error("temperature must be <= 2"), model="m")
    assert type(err) is LLMBadRequest


def test_unknown_model_names_the_model_for_the_user() -> None:
    body = openai_error("The model `gpt-9` does not exist or you do not have access to it.")
    err = error_from_status(404, {}, body, model="gpt-9")
    assert type(err) is LLMBadRequest
    assert "'gpt-9'" in err.user_message
    assert "does not exist" in str(err)


def test_unknown_model_as_400_also_names_the_model() -> None:
    err = error_from_status(400, {}, openai_error("Invalid model: foo"), model="foo")
    assert "'foo'" in err.user_message


def test_plain_404_points_at_the_base_url() -> None:
    err = error_from_status(404, {}, b"<html>404 Not Found</html>", model="m")
    assert type(err) is LLMBadRequest
    assert "LLM_BASE_URL" in err.user_message


def test_rate_limit_carries_retry_after() -> None:
    err = error_from_status(429, {"retry-after": "7"}, openai_error("slow down"), model="m")
    assert isinstance(err, LLMRateLimited)
    assert err.retry_after == 7
    assert err.retryable


def test_out_of_quota_is_not_retryable() -> None:
    body = openai_error("You exceeded your current quota.", "insufficient_quota")
    err = error_from_status(429, {}, body, model="m")
    assert isinstance(err, LLMRateLimited)
    assert not err.retryable
    assert "quota" in err.user_message


def test_long_retry_after_is_told_to_the_user() -> None:
    err = error_from_status(429, {"retry-after": "600"}, b"", model="m")
    assert "10 minutes" in err.user_message


def test_server_error_carries_retry_after_too() -> None:
    err = error_from_status(503, {"retry-after": "2"}, b"busy", model="m")
    assert isinstance(err, LLMUnavailable)
    assert err.retry_after == 2


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "nan"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    header = {"retry-after": formatdate(now + 30, usegmt=True)}
    assert parse_retry_after(header, now=lambda: now) == pytest.approx(30)
    past = {"retry-after": formatdate(now - 30, usegmt=True)}
    assert parse_retry_after(past, now=lambda: now) == 0.0


def test_summary_masks_the_api_key_and_key_like_strings() -> None:
    secret = "sk-live-abcdefghijklmnop"
    text = summarize({"error": {"message": f"bad key {secret}, also sk-other12345678"}}, secret)
    assert secret not in text
    assert "sk-other" not in text
    assert "***" in text


def test_summary_is_one_short_line() -> None:
    text = summarize(b"line one\n\n   line two " + b"x" * 1000)
    assert "\n" not in text
    assert len(text) == MAX_DETAIL
    assert text.startswith("line one line two")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": "plain string"}, "plain string"),
        ({"detail": "Not Found"}, "Not Found"),
        ({"message": "top-level"}, "top-level"),
        ({"error": {"message": "m", "code": "c"}}, "m (c)"),
        ({}, "{}"),
    ],
)
def test_summary_finds_the_message_in_common_shapes(body: object, expected: str) -> None:
    assert summarize(body) == expected
