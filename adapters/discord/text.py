"""Text helpers: what the model reads from a Discord message, thread names, prompt echoes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

MAX_THREAD_NAME = 90
MAX_ECHO = 1900
DEFAULT_THREAD_NAME = "Threadline chat"
_USER_MENTION = re.compile(r"<@!?([0-9]+)>")
_ROLE_MENTION = re.compile(r"<@&([0-9]+)>")
_CHANNEL_MENTION = re.compile(r"<#([0-9]+)>")


def model_text(
    content: str,
    bot_id: int,
    *,
    users: Mapping[int, str] | None = None,
    roles: Mapping[int, str] | None = None,
    channels: Mapping[int, str] | None = None,
) -> str:
    """``content`` without the bot's own mention and with other mentions as readable names."""
    text = re.sub(rf"<@!?{bot_id}>", "", content)
    text = _USER_MENTION.sub(_namer(users, "@", "@user"), text)
    text = _ROLE_MENTION.sub(_namer(roles, "@", "@role"), text)
    text = _CHANNEL_MENTION.sub(_namer(channels, "#", "#channel"), text)
    return text.strip()


def _namer(
    names: Mapping[int, str] | None, prefix: str, unknown: str
) -> Callable[[re.Match[str]], str]:
    table = names or {}

    def replace(match: re.Match[str]) -> str:
        name = table.get(int(match.group(1)))
        return f"{prefix}{name}" if name else unknown

    return replace


def thread_name(prompt: str) -> str:
    """A thread title from the first line of the prompt (Discord allows 1–100 characters)."""
    first = next((line.strip() for line in prompt.splitlines() if line.strip()), "")
    first = " ".join(first.split())
    if not first:
        return DEFAULT_THREAD_NAME
    if len(first) <= MAX_THREAD_NAME:
        return first
    return first[: MAX_THREAD_NAME - 1].rstrip() + "…"


def prompt_echo(user_id: int, prompt: str) -> str:
    """The /chat starter message: who asked what, quoted (mentions never ping: see sink)."""
    body = prompt if len(prompt) <= MAX_ECHO else prompt[: MAX_ECHO - 1] + "…"
    quoted = "\n".join(f"> {line}" if line else ">" for line in body.splitlines() or [""])
    return f"<@{user_id}> asked:\n{quoted}"
