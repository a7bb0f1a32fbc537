"""Pure text helpers: what goes to Slack (sanitised) and what comes from it (cleaned)."""

from __future__ import annotations

import re

WORD_JOINER = "\u2060"
MASS_MENTION = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>", re.IGNORECASE)
GROUP_MENTION = re.compile(r"<!subteam\^[A-Za-z0-9]+(?:\|@?([^>]*))?>")
BARE_MENTION = re.compile(r"(?<![\w@])@(here|channel|everyone)\b", re.IGNORECASE)
USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
TITLE_CHARS = 60
HOLD_BACK = 40
MASS_WORDS = ("here", "channel", "everyone")


def sanitize(text: str) -> str:
    """Neutralise ``<!here>``, ``<!channel>``, ``<!everyone>`` and ``<!subteam^…>`` pings.

    They become plain ``@here``/``@group`` text with an invisible word joiner after the ``@``,
    so neither Slack's mention parsing nor ``link_names`` can turn them back into a ping.
    """
    text = MASS_MENTION.sub(lambda m: f"@{WORD_JOINER}{m.group(1).lower()}", text)
    text = GROUP_MENTION.sub(lambda m: f"@{WORD_JOINER}{(m.group(1) or 'group').strip()}", text)
    return BARE_MENTION.sub(lambda m: f"@{WORD_JOINER}{m.group(1)}", text)


def clean_incoming(text: str, bot_user_id: str, bot_name: str) -> str:
    """A user's Slack text as the model should read it.

    The leading mention of the bot is dropped, later ones read ``@<bot name>``, and Slack's
    ``&amp; &lt; &gt;`` escapes are undone.
    """
    own = re.compile(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>") if bot_user_id else None
    if own is not None:
        text = own.sub("", text, count=1) if own.match(text.lstrip()) else text
        text = own.sub(f"@{bot_name}", text)
    text = text.strip().lstrip(":,").strip()
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mentions(text: str, user_id: str) -> bool:
    """Whether ``text`` mentions ``user_id``."""
    return bool(user_id) and any(m.group(1) == user_id for m in USER_MENTION.finditer(text))


def mentions_someone_else(text: str, bot_user_id: str) -> bool:
    """Whether ``text`` addresses another person and not the bot."""
    found = {m.group(1) for m in USER_MENTION.finditer(text)}
    return bool(found) and bot_user_id not in found


def title_from(text: str) -> str:
    """A short assistant-thread title from the first line of a question."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "New chat")
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1].rstrip() + "…"


def split_safe(text: str) -> tuple[str, str]:
    """Split off a tail that might be the start of a ping (``<!he…``, ``@chan…``)."""
    cut = len(text)
    opening = text.rfind("<")
    if opening > text.rfind(">") and len(text) - opening <= HOLD_BACK:
        cut = opening
    at = text.rfind("@", 0, cut)
    tail = text[at + 1 : cut].lower()
    if at >= 0 and any(word.startswith(tail) for word in MASS_WORDS):
        cut = at
    return text[:cut], text[cut:]
