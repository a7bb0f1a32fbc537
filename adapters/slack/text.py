"""Pure text helpers: what goes to Slack (sanitised) and what comes from it (cleaned).

Nothing the bot sends may notify people it should not. ``sanitize`` rewrites Slack's special
``<…>`` tokens in model output: ``<!here>``, ``<!channel>``, ``<!everyone>``,
``<!subteam^…>`` always, and user mentions ``<@U…>``/``<@W…|name>`` unless the
``MentionPolicy`` keeps them (the person who asked, or every one with ``SLACK_ALLOW_MENTIONS``).
A token is recognised up to ``MAX_TOKEN`` characters; beyond that, or when it never closes,
its opening ``<!``/``<@`` is rewritten anyway, so no length of label gets a ping through.

Streaming sends text in pieces, so ``split_safe`` holds back a tail that might still become
a token (``<!chan``, ``<@U12``, ``<!channel|half a label``) until it closes, provably is not
one, or passes ``MAX_TOKEN``: each piece then sanitises exactly as it would inside the whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WORD_JOINER = "\u2060"
NEUTRAL_AT = f"@{WORD_JOINER}"
MAX_ID = 15
"""Longest id (``U…``, ``W…``, ``S…``) recognised inside a token; Slack's are 9–11 long."""
MAX_LABEL = 30
"""Longest ``|label`` recognised inside a token."""
MAX_TOKEN = len("<!subteam^") + MAX_ID + len("|") + MAX_LABEL + len(">")
"""No special token is longer; it stays below the reply layout's ``SETTLE`` window so a
finalised message never changes when a token closes after it."""
_HEAD = (
    rf"(?:!(?P<mass>here|channel|everyone)"
    rf"|!subteam\^(?P<group>[a-z0-9]{{1,{MAX_ID}}})"
    rf"|@(?P<user>[uw][a-z0-9]{{1,{MAX_ID}}}))"
)
SPECIAL = re.compile(
    rf"<(?:{_HEAD}(?:\|(?P<label>[^<>]{{0,{MAX_LABEL}}}))?>"
    r"|(?P<opener>!(?=here|channel|everyone|subteam)|@(?=[uw])))",
    re.IGNORECASE,
)
"""A whole special token, or else the bare opening of one (``<!channel|``…, ``<@U1``…)."""
UNFINISHED = re.compile(
    rf"<(?:!(?:here|channel|everyone)|!subteam\^[a-z0-9]{{0,{MAX_ID}}}|@[uw][a-z0-9]{{0,{MAX_ID}}})"
    rf"(?:\|[^<>]{{0,{MAX_LABEL}}})?",
    re.IGNORECASE,
)
"""A token that has begun but not closed, still short enough to become a whole one."""
HEADS = ("<!here", "<!channel", "<!everyone", "<!subteam^", "<@u", "<@w")
BARE_MENTION = re.compile(r"(?<![\w@])@(here|channel|everyone)\b", re.IGNORECASE)
USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
TITLE_CHARS = 60
MASS_WORDS = ("here", "channel", "everyone")


@dataclass(frozen=True, slots=True)
class MentionPolicy:
    """Which user mentions written by the model may notify: the asker's, or all of them."""

    allow_all: bool = False
    asker: str = ""

    def keeps(self, user_id: str) -> bool:
        return self.allow_all or (bool(self.asker) and user_id == self.asker)


NO_PINGS = MentionPolicy()


def sanitize(text: str, policy: MentionPolicy = NO_PINGS) -> str:
    """``text`` with every ping neutralised (see the module docstring).

    Mass and group mentions become ``@here``/``@channel``/``@everyone``/``@<group label>``, a
    user mention its label, else its id (``@name``, ``@U012ABC``); an unclosed or overlong
    token loses only its ``<``. An invisible word joiner follows each such ``@``, so neither
    Slack's mention parsing nor ``link_names`` can turn the text back into a ping. Mentions the
    ``policy`` keeps are left as written.
    """

    def rewrite(match: re.Match[str]) -> str:
        if match.group("opener"):
            return NEUTRAL_AT
        if match.group("mass"):
            return NEUTRAL_AT + match.group("mass").lower()
        label = (match.group("label") or "").strip().lstrip("@").strip()
        user = match.group("user")
        if user is None:
            return NEUTRAL_AT + (label or "group")
        return match.group(0) if policy.keeps(user) else NEUTRAL_AT + (label or user)

    text = SPECIAL.sub(rewrite, text)
    return BARE_MENTION.sub(lambda m: NEUTRAL_AT + m.group(1), text)


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
    """``(send, keep)``: hold back a tail that might still become a ping.

    The tail starts at the first ``<`` of the last ``MAX_TOKEN`` characters that may still
    grow into a special token (``<!he``, ``<@U0B``, ``<!subteam^S1|de``), or else at an ``@``
    that may still grow into ``@here``/``@channel``/``@everyone``.
    """
    cut = len(text)
    opening = text.find("<", max(0, len(text) - MAX_TOKEN))
    while opening >= 0:
        if _unfinished(text[opening:]):
            cut = opening
            break
        opening = text.find("<", opening + 1)
    at = text.rfind("@", 0, cut)
    tail = text[at + 1 : cut].lower()
    if at >= 0 and any(word.startswith(tail) for word in MASS_WORDS):
        cut = at
    return text[:cut], text[cut:]


def _unfinished(tail: str) -> bool:
    """Whether ``tail`` (from a ``<``) could still be completed into a special token."""
    lowered = tail.lower()
    return any(head.startswith(lowered) for head in HEADS) or bool(UNFINISHED.fullmatch(tail))
