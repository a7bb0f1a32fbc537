"""Platform tokens in angle brackets that a message cut must not split.

Slack: ``<@U123|name>``, ``<#C123|chan>``, ``<!here>``, ``<!subteam^S1|@team>``,
``<https://…|label>``, ``<mailto:…>``. Discord: ``<@123>``, ``<@!123>``, ``<@&123>``,
``<#123>``, ``<:name:123>``, ``<a:name:123>``, ``<t:123:R>``, ``</cmd:123>``, ``<https://…>``.
One pattern covers them all: ``<``, then ``@``, ``#``, ``!``, ``/``, ``:`` or a scheme-like
word and a colon, then anything but ``<``, ``>`` or a newline, then ``>``; at most
``MAX_TOKEN`` characters (a longer one may be cut, at a grapheme boundary).

While text streams in, a token may still be open at the end of the text. It counts as a
token already: a cut decided now must stay valid however the text continues, and an open
token can only stop being one later, never become one.
"""

from __future__ import annotations

import regex

MAX_TOKEN = 500
"""Longest token (both brackets included) that cuts avoid."""

_TOKEN = regex.compile(r"<(?:[@#!/:]|[A-Za-z][A-Za-z0-9+.-]*:)[^<>\n]*>")


def token_around(text: str, pos: int) -> int | None:
    """The start of the token (complete, or open at the end of ``text``) that ``pos`` is
    strictly inside, if any."""
    opening = text.rfind("<", max(0, pos - MAX_TOKEN + 1), pos)
    if opening == -1 or text.find(">", opening, pos) != -1:
        return None
    match = _TOKEN.match(text, opening, min(len(text), opening + MAX_TOKEN), partial=True)
    if match is None or (not match.partial and match.end() <= pos):
        return None
    if match.partial and match.end() < len(text):
        return None  # longer than MAX_TOKEN
    return opening
