"""``SinkError.code``: the platform's error code travels with the error (no ``__cause__``)."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from adapters.slack.api import to_sink_error
from bot.errors import SinkMessageGone, SinkRateLimited


def refused(error: str, status: int = 200, headers: dict[str, Any] | None = None) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.test/api/chat.update",
        req_args={},
        data={"ok": False, "error": error},
        headers=headers or {},
        status_code=status,
    )
    return SlackApiError(error, response)


def test_a_refusal_carries_slacks_error_string() -> None:
    exc = to_sink_error(refused("invalid_blocks"), "chat.update")
    assert exc.code == "invalid_blocks"


def test_rate_limits_and_gone_messages_carry_theirs() -> None:
    limited = to_sink_error(refused("ratelimited", 429, {"Retry-After": "3"}), "chat.update")
    gone = to_sink_error(refused("message_not_found"), "chat.update")
    assert isinstance(limited, SinkRateLimited) and limited.code == "ratelimited"
    assert limited.retry_after == 3.0
    assert isinstance(gone, SinkMessageGone) and gone.code == "message_not_found"


def test_a_transport_failure_names_the_exception() -> None:
    assert (
        to_sink_error(ConnectionResetError("reset"), "chat.update").code == "ConnectionResetError"
    )
