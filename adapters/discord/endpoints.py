"""Where discord.py sends REST requests and opens the gateway, per client (not per process).

discord.py builds every REST URL from the class attribute ``discord.http.Route.BASE`` and falls
back to ``DiscordWebSocket.DEFAULT_GATEWAY`` whenever it has no gateway address of its own
(fixed shard count, invalidated session). Both are process-wide constants, so assigning them
would redirect every client in the process. Instead they become descriptors that read a
context variable: ``use_endpoints`` sets it in the task that runs one client, and every task
discord.py spawns from there (gateway readers, event handlers, interaction webhooks) inherits
the value through asyncio's context copying. Elsewhere the original values apply unchanged.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Generic, TypeVar

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

T = TypeVar("T")

DEFAULT_API_BASE = "https://discord.com/api/v10"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """A REST base (``…/api/v10``) and a gateway address; ``None`` keeps discord.py's own."""

    api_base: str | None = None
    gateway: str | None = None


class _ContextDefault(Generic[T]):
    """A class-attribute descriptor: the context's value if set, else the original."""

    def __init__(self, variable: ContextVar[T | None], original: T) -> None:
        self.variable = variable
        self.original = original

    def __get__(self, instance: object, owner: type | None = None) -> T:
        value = self.variable.get()
        return self.original if value is None else value


_api_base: ContextVar[str | None] = ContextVar("threadline_discord_api_base", default=None)
_gateway: ContextVar[yarl.URL | None] = ContextVar("threadline_discord_gateway", default=None)


def _install() -> None:
    """Swap the two class attributes for context-aware descriptors (idempotent)."""
    if not isinstance(Route.__dict__.get("BASE"), _ContextDefault):
        setattr(Route, "BASE", _ContextDefault(_api_base, Route.__dict__["BASE"]))  # noqa: B010
    if not isinstance(DiscordWebSocket.__dict__.get("DEFAULT_GATEWAY"), _ContextDefault):
        original = DiscordWebSocket.__dict__["DEFAULT_GATEWAY"]
        setattr(DiscordWebSocket, "DEFAULT_GATEWAY", _ContextDefault(_gateway, original))  # noqa: B010


def use_endpoints(endpoints: Endpoints) -> None:
    """Route this task's (and its children's) discord.py traffic to ``endpoints``."""
    _install()
    _api_base.set(endpoints.api_base)
    _gateway.set(yarl.URL(endpoints.gateway) if endpoints.gateway else None)


def use_gateway(url: str) -> None:
    """Set the gateway address for this task and the tasks it starts from now on."""
    _install()
    _gateway.set(yarl.URL(url))


def current_gateway() -> str | None:
    value = _gateway.get()
    return None if value is None else str(value)


_TOKEN_AFTER = frozenset({"webhooks", "interactions"})
"""Routes whose segment after the id is a secret token (interaction webhooks)."""
LONGEST_WORD = 32


def route_name(verb: str, url: yarl.URL) -> str | None:
    """The REST route of a request without ids, tokens or emoji, for the platform-call
    metrics: ``POST /channels/{id}/messages``. None for a request outside ``/api/vN`` (the
    gateway's websocket)."""
    parts = url.path.split("/")
    start = next(
        (i for i in range(1, len(parts)) if parts[i - 1] == "api" and _is_version(parts[i])),
        None,
    )
    if start is None:
        return None
    rest = parts[start + 1 :]
    names: list[str] = []
    for i, part in enumerate(rest):
        if part.isdigit():
            names.append("{id}")
        elif (i >= 2 and rest[i - 2] in _TOKEN_AFTER) or len(part) > LONGEST_WORD:
            names.append("{token}")
        elif names and names[-1] == "reactions":
            names.append("{emoji}")
        else:
            names.append(part)
    return f"{verb} /" + "/".join(names)


def _is_version(part: str) -> bool:
    return part.startswith("v") and part[1:].isdigit()


def normalize_api_base(url: str) -> str:
    """``http://host:port`` → ``http://host:port/api/v10``; a given ``/api/vN`` is kept."""
    trimmed = url.rstrip("/")
    if "/api/v" in trimmed:
        return trimmed
    if trimmed.endswith("/api"):
        return trimmed + "/v10"
    return trimmed + "/api/v10"
