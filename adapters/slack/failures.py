"""What an exception inside Bolt's dispatch answers to Slack, logged as one line.

Bolt catches every exception a listener or middleware raises and hands it to the app's error
handler (``app.error``); with ``process_before_response=True`` the handler's ``BoltResponse``
is what Slack receives (in Socket Mode, anything but 200 means no ack, so Slack redelivers).
The decisions:

- ``StoreError``: the question could not be stored durably, so the event must come again.
  503 *without* ``X-Slack-No-Retry``: Slack redelivers it (after about 1 and 5 minutes) and
  the delivery's ``event_id`` claim keeps a redelivery from being answered twice. WARNING.
- ``BoltUnhandledRequestError``: a signed request no listener takes (a payload type we do not
  subscribe to). 404 with ``X-Slack-No-Retry: 1``. WARNING.
- anything else is a bug of ours, and a redelivery would fail the same way: 400 with
  ``X-Slack-No-Retry: 1``. ERROR naming the exception and where it was raised; the traceback
  only at DEBUG.

Lines are rate-limited per kind, so a flood cannot fill the log. When Bolt acknowledged before
the listener ran (``process_before_response=False``) it passes no response: only the line remains.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.response import BoltResponse

from adapters.slack.lograte import RateLimitedLog, one_line
from bot.errors import StoreError

logger = logging.getLogger(__name__)

NO_RETRY = {"X-Slack-No-Retry": "1"}


@dataclass(frozen=True)
class Outcome:
    """The answer to Slack and the one log line for a failed request."""

    status: int
    level: int
    kind: str
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def response(self) -> BoltResponse:
        body = json.dumps({"error": self.kind})
        return BoltResponse(status=self.status, body=body, headers=dict(self.headers))


def outcome_of(error: Exception, body: Mapping[str, Any]) -> Outcome:
    """How one exception raised inside Bolt is answered and logged."""
    what = _describe(body)
    if isinstance(error, StoreError):
        message = f"could not store {what}: {one_line(error)}"
        return Outcome(503, logging.WARNING, "store-failed", message)
    if isinstance(error, BoltUnhandledRequestError):
        message = f"no listener for {what}"
        return Outcome(404, logging.WARNING, "unhandled", message, NO_RETRY)
    where = _where(error)
    message = f"{type(error).__name__} while handling {what} at {where}: {one_line(error)}"
    return Outcome(400, logging.ERROR, f"bug:{type(error).__name__}", message, NO_RETRY)


def install_error_handler(app: AsyncApp, log: RateLimitedLog | None = None) -> None:
    """Make ``app`` answer and log failures as ``outcome_of`` decides."""
    lines = log or RateLimitedLog(logger)

    async def on_error(
        error: Exception, body: dict[str, Any], response: BoltResponse | None
    ) -> BoltResponse | None:
        outcome = outcome_of(error, body if isinstance(body, Mapping) else {})
        answered = f"answered {outcome.status}" if response is not None else "already acknowledged"
        lines.log(outcome.level, outcome.kind, f"{outcome.message}; {answered}")
        logger.debug("traceback of the failure above", exc_info=error)
        return outcome.response() if response is not None else None

    app.error(on_error)


def _describe(body: Mapping[str, Any]) -> str:
    """A short, log-safe name for the request: its type and, for events, the event type."""
    if body.get("command"):
        return f"a Slack request (command {one_line(body['command'], 40)})"
    kind = one_line(body.get("type") or "untyped", 40)
    event = body.get("event")
    if isinstance(event, Mapping) and event.get("type"):
        kind = f"{kind}/{one_line(event['type'], 40)}"
    return f"a Slack request ({kind})"


def _where(error: BaseException) -> str:
    """The innermost frame of our own code (not an installed library) that the error passed."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if "site-packages" not in f.filename]
    if not frames:
        return "an unknown place"
    frame = (ours or frames)[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
