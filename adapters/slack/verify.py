"""Which HTTP requests may reach Bolt: those Slack signed with the app's signing secret.

The check runs on the raw bytes and headers before anything parses the body, so unsigned junk
costs one HMAC and never meets a JSON or form parser. The headers are checked for shape first
(a Unix timestamp of digits, a ``v0=`` hex signature), then the timestamp for freshness (at most
5 minutes off, Slack's rule against replays), then the signature itself with slack_sdk's
``SignatureVerifier``. Signature problems are refused with 401, bodies that cannot be Slack's
(not UTF-8) with 400.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from slack_sdk.signature import Clock, SignatureVerifier

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
MAX_SKEW_SECONDS = 5 * 60
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


@dataclass(frozen=True)
class Refusal:
    """Why a request was turned away: HTTP status, a fixed kind (for logs) and a short reason."""

    status: int
    kind: str
    reason: str


class RequestGate:
    """Verifies Slack's request signature; gives the body as text when it is Slack's."""

    def __init__(self, signing_secret: str, clock: Clock | None = None) -> None:
        self._clock = clock or Clock()
        self._verifier = SignatureVerifier(signing_secret, self._clock)

    def check(self, body: bytes, headers: Mapping[str, str]) -> str | Refusal:
        """The body decoded as UTF-8 if Slack signed it within 5 minutes, else a ``Refusal``."""
        timestamp = headers.get(TIMESTAMP_HEADER) or ""
        signature = headers.get(SIGNATURE_HEADER) or ""
        refusal = self._header_refusal(timestamp, signature)
        if refusal is not None:
            return refusal
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return Refusal(400, "not-utf8", "the body is not UTF-8")
        if not self._verifier.is_valid(text, timestamp, signature):
            return Refusal(401, "bad-signature", f"{SIGNATURE_HEADER} does not match the body")
        return text

    def _header_refusal(self, timestamp: str, signature: str) -> Refusal | None:
        if not timestamp or not signature:
            return Refusal(401, "unsigned", f"no {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}")
        if not _TIMESTAMP.fullmatch(timestamp):
            return Refusal(401, "bad-timestamp", f"{TIMESTAMP_HEADER} is not a Unix time")
        if abs(self._clock.now() - int(timestamp)) > MAX_SKEW_SECONDS:
            return Refusal(401, "stale", f"{TIMESTAMP_HEADER} is more than 5 minutes off")
        if not _SIGNATURE.fullmatch(signature):
            return Refusal(401, "bad-signature", f"{SIGNATURE_HEADER} is not a v0 signature")
        return None
