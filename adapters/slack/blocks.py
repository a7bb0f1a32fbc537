"""Block Kit payloads for answers: a ``markdown`` block plus the answer's buttons.

Answers use a ``markdown`` block (standard Markdown: code fences, lists, links render as
written) because ``markdown_text`` cannot be combined with the ``actions`` block that carries
the buttons. The same text also goes into ``text`` for notifications and screen readers.

Button values hold ``channel|thread`` so a click finds its conversation after a restart.

A placeholder showing the model's reasoning (``show_reasoning`` collapsed) is a ``context``
block instead (small grey text, ``thinking_blocks``), with a short ``text`` fallback.
"""

from __future__ import annotations

from typing import Any

from adapters.slack.text import sanitize
from bot.reply.base import grapheme_tail

ACTION_STOP = "threadline_stop"
ACTION_REGENERATE = "threadline_regenerate"
ACTION_FEEDBACK_UP = "threadline_feedback_up"
ACTION_FEEDBACK_DOWN = "threadline_feedback_down"
ACTION_IDS = (ACTION_STOP, ACTION_REGENERATE, ACTION_FEEDBACK_UP, ACTION_FEEDBACK_DOWN)
ACTIONS_BLOCK_ID = "threadline_actions"
EMPTY_TEXT = "…"
THINKING_MARK = "\u2063"
"""Opens the placeholder text ``SlackSink.thinking`` produces (an invisible separator): post
and edit show such text as a context block. ``SlackSink.sanitize`` removes the mark from every
answer, so no answer can pass for reasoning."""
THINKING_LABEL = "Thinking…"
"""The label in the context block, and the whole ``text`` fallback of the message."""
THINKING_TEXT_MAX = 2000
"""Longest reasoning text element we send (a text object allows 3,000 characters)."""
THINKING_CHARS = THINKING_TEXT_MAX // len("&amp;")
"""Reasoning shown at most, in code points: each becomes at most five UTF-16 units."""

Block = dict[str, Any]


def button_value(channel: str, thread: str) -> str:
    """Encode where an answer lives."""
    return f"{channel}|{thread}"


def parse_button_value(value: str) -> tuple[str, str]:
    """``(channel, thread)`` from a button value; ``ValueError`` if it is not ours."""
    channel, sep, thread = value.partition("|")
    if not sep or not channel or "|" in thread:
        raise ValueError(f"not a Threadline button value: {value[:40]!r}")
    return channel, thread


def _button(action_id: str, label: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def stop_actions(value: str) -> Block:
    """The buttons of an answer that is still being written."""
    return {
        "type": "actions",
        "block_id": ACTIONS_BLOCK_ID,
        "elements": [_button(ACTION_STOP, "⏹ Stop", value, "danger")],
    }


def final_actions(value: str) -> Block:
    """The buttons of a finished (or stopped, or failed) answer."""
    return {
        "type": "actions",
        "block_id": ACTIONS_BLOCK_ID,
        "elements": [
            _button(ACTION_REGENERATE, "↻ Regenerate", value),
            _button(ACTION_FEEDBACK_UP, "👍", value),
            _button(ACTION_FEEDBACK_DOWN, "👎", value),
        ],
    }


def actions_for(*, final: bool, last: bool, value: str) -> Block | None:
    """The buttons of a message in its role: Stop while it streams, none on a finished part
    of a longer answer, Regenerate and feedback on the answer's last message."""
    if not final:
        return stop_actions(value)
    return final_actions(value) if last else None


def answer_blocks(text: str, *, final: bool, value: str, last: bool = True) -> list[Block]:
    """The blocks of one answer message (``last=False``: a finished part, without buttons)."""
    actions = actions_for(final=final, last=last, value=value)
    markdown: Block = {"type": "markdown", "text": text or EMPTY_TEXT}
    return [markdown] if actions is None else [markdown, actions]


def thinking_blocks(reasoning: str, *, final: bool, value: str) -> list[Block]:
    """The blocks of a placeholder showing the model's reasoning: a ``context`` block with a
    bold label and the tail as separate elements (the tail's markup cannot reach the label),
    then the message's buttons (Stop while it streams)."""
    context: Block = {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": f"*{THINKING_LABEL}*"},
            {"type": "mrkdwn", "text": thinking_mrkdwn(reasoning), "verbatim": True},
        ],
    }
    actions = actions_for(final=final, last=final, value=value)
    return [context] if actions is None else [context, actions]


def thinking_mrkdwn(reasoning: str) -> str:
    """Reasoning as mrkdwn that can neither ping nor link: one line of at most
    ``THINKING_CHARS`` code points, mentions neutralised by ``sanitize`` with no exception
    (reasoning pings nobody, not even the asker), then ``& < >`` escaped so no ``<!channel>``
    or ``<url|label>`` token is left; ``verbatim`` keeps Slack from linking names itself."""
    body = " ".join(grapheme_tail(reasoning, THINKING_CHARS).split())
    text = sanitize(body).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text or EMPTY_TEXT
