"""Per-channel feature settings: channel context, reasoning display, shortcut replies.

Decided here: every feature is off (today's behaviour) unless a channel sets it.

* ``channel_context`` — how many of the channel's recent messages (0 to ``MAX_CONTEXT``) a
  top-level mention sees before the question; 0 (the default) shows none.
* ``show_reasoning`` — ``hidden`` (the default) or ``collapsed``: the model's reasoning is shown
  in the placeholder while it streams and replaced by the answer; it is never stored.
* ``shortcut_replies`` — where a summary or translation asked for by a shortcut or a message
  command goes: ``private`` (the default: a DM on Slack, an ephemeral follow-up on Discord) or
  ``thread``.
* ``translate_to`` — the language translations go to; unset: the user's locale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.errors import SettingError

CHANNEL_CONTEXT = "channel_context"
SHOW_REASONING = "show_reasoning"
SHORTCUT_REPLIES = "shortcut_replies"
TRANSLATE_TO = "translate_to"
SETTING_NAMES = (CHANNEL_CONTEXT, SHOW_REASONING, SHORTCUT_REPLIES, TRANSLATE_TO)
MAX_CONTEXT = 200
"""Also how many ambient messages are kept per channel."""
REASONING_MODES = ("hidden", "collapsed")
REPLY_MODES = ("private", "thread")
MAX_LANGUAGE_CHARS = 40


def channel_value(name: str, raw: str) -> Any:
    """The stored value of a feature setting; ``SettingError`` if invalid."""
    text = raw.strip()
    if name == CHANNEL_CONTEXT:
        return _count(text)
    if name == SHOW_REASONING:
        return _choice(name, text.lower(), REASONING_MODES)
    if name == SHORTCUT_REPLIES:
        return _choice(name, text.lower(), REPLY_MODES)
    if name == TRANSLATE_TO:
        if (
            not text
            or len(text) > MAX_LANGUAGE_CHARS
            or not text.replace("-", " ").replace(" ", "").isalpha()
        ):
            raise SettingError("translate_to must be a language name or code (or default).")
        return text
    raise SettingError(f"Unknown setting {name!r}.")


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_CONTEXT:
        raise SettingError(
            f"channel_context must be a number of messages from 0 to {MAX_CONTEXT} (or default)."
        )
    return value


def _choice(name: str, text: str, choices: tuple[str, ...]) -> str:
    if text not in choices:
        raise SettingError(f"{name} must be one of: {', '.join(choices)} (or default).")
    return text


def context_count(overrides: Mapping[str, Any]) -> int:
    """The channel's ``channel_context`` (0: off)."""
    value = overrides.get(CHANNEL_CONTEXT, 0)
    return value if isinstance(value, int) and 0 <= value <= MAX_CONTEXT else 0


def shows_reasoning(overrides: Mapping[str, Any]) -> bool:
    """Whether the channel shows reasoning while it streams."""
    return overrides.get(SHOW_REASONING) == "collapsed"


def replies_in_thread(overrides: Mapping[str, Any]) -> bool:
    """Whether shortcut results go to the thread rather than privately."""
    return overrides.get(SHORTCUT_REPLIES) == "thread"


def translate_to(overrides: Mapping[str, Any]) -> str:
    """The channel's translation language ("" when the user's locale decides)."""
    value = overrides.get(TRANSLATE_TO, "")
    return value if isinstance(value, str) else ""


def describe(overrides: Mapping[str, Any]) -> str:
    """The channel's feature overrides, one ``name = value`` line each ("" for none)."""
    return "\n".join(
        f"{name} = {overrides[name]}  (set for this channel)"
        for name in SETTING_NAMES
        if name in overrides
    )
