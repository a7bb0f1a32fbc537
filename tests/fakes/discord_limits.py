"""Per-route rate limits and injectable failures for the fake Discord REST API.

Responses carry the real ``X-RateLimit-*`` headers; a 429 has Discord's body
(``{"message", "retry_after", "global"}``), ``Retry-After``, ``X-RateLimit-Scope`` and a ``Via``
header (discord.py treats a 429 without ``Via`` as a Cloudflare ban and does not retry).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Bucket:
    """A fixed-window bucket: ``limit`` requests per ``window`` seconds."""

    limit: int
    window: float
    started: float = 0.0
    used: int = 0

    def take(self, now: float) -> float:
        """Use one request; return 0.0 if allowed, else seconds until the window resets."""
        if now - self.started >= self.window:
            self.started, self.used = now, 0
        if self.used >= self.limit:
            return self.started + self.window - now
        self.used += 1
        return 0.0

    def headers(self, now: float, name: str) -> dict[str, str]:
        reset_after = max(0.0, self.started + self.window - now)
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - self.used)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.sha1(name.encode()).hexdigest()[:16],
        }


@dataclass
class Fault:
    """Answer the next ``times`` requests matching ``method`` and ``path`` with an error."""

    method: str
    path: re.Pattern[str]
    status: int
    code: int
    message: str
    times: int
    retry_after: float = 0.0
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return self.hits < self.times and method == self.method and bool(self.path.search(path))


@dataclass
class Limits:
    """Route limits (``kind → (limit, window)``), live buckets and queued faults.

    Discord's message bucket is about 5 per 5 s per channel; the default here is 5 per 1 s so
    tests stay quick (``set_rule("messages", 5, 5.0)`` for the real pace).
    """

    rules: dict[str, tuple[int, float]] = field(
        default_factory=lambda: {"messages": (5, 1.0), "webhook": (5, 1.0)}
    )
    buckets: dict[str, Bucket] = field(default_factory=dict)
    faults: deque[Fault] = field(default_factory=deque)
    rate_limited: int = 0

    def set_rule(self, kind: str, limit: int, window: float) -> None:
        self.rules[kind] = (limit, window)
        self.buckets = {k: v for k, v in self.buckets.items() if not k.startswith(kind + ":")}

    def inject(self, fault: Fault) -> None:
        self.faults.append(fault)

    def fault_for(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.hits += 1
                return fault
        return None

    def check(self, kind: str, major: str) -> tuple[float, dict[str, str]]:
        """Take one request from ``kind``'s bucket for ``major``; (wait, headers)."""
        if kind not in self.rules:
            return 0.0, {}
        name = f"{kind}:{major}"
        bucket = self.buckets.get(name)
        if bucket is None:
            bucket = self.buckets[name] = Bucket(*self.rules[kind])
        now = time.monotonic()
        wait = bucket.take(now)
        return wait, bucket.headers(now, kind)


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON exactly as Discord labels it (discord.py wants ``application/json`` verbatim)."""
    all_headers = {**(headers or {}), "Content-Type": "application/json"}
    return web.Response(status=status, body=json.dumps(data).encode(), headers=all_headers)


def error_response(status: int, code: int, message: str, **extra: Any) -> web.Response:
    body = {"message": message, "code": code, **extra}
    return json_reply(body, status=status)


def too_many(retry_after: float, headers: dict[str, str], *, scope: str = "user") -> web.Response:
    """A 429 exactly as Discord sends it."""
    retry_after = round(max(retry_after, 0.001), 3)
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
    all_headers = {
        **headers,
        "X-RateLimit-Remaining": "0",
        "Retry-After": str(max(1, math.ceil(retry_after))),
        "X-RateLimit-Scope": scope,
        "X-RateLimit-Global": "false",
        "Via": "1.1 google",
        "Content-Type": "application/json",
    }
    return web.Response(status=429, body=json.dumps(body).encode(), headers=all_headers)


def invalid_form_body(field_name: str, limit: int) -> web.Response:
    errors = {
        field_name: {
            "_errors": [
                {"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}
            ]
        }
    }
    return error_response(400, 50035, "Invalid Form Body", errors=errors)


def fault_response(fault: Fault) -> web.Response:
    if fault.status == 429:
        return too_many(fault.retry_after, {}, scope="user")
    if fault.code == 50035:
        return invalid_form_body("content", 2000)
    return error_response(fault.status, fault.code, fault.message)
