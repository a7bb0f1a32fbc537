"""Layout: when chunks are committed, and what the live message shows while open."""

from __future__ import annotations

import pytest

from bot.reply import split
from bot.reply.layout import SETTLE, Layout

INDICATOR = " ▌"


def test_commits_only_once_the_window_has_settled() -> None:
    layout = Layout(200, INDICATOR)
    text = "word " * ((layout.room + SETTLE) // 5 - 2)
    layout.update(text, closed=False)
    assert layout.parts == []
    assert len(text) > layout.room  # over one message, but not settled yet
    live = layout.live(text, closed=False)
    assert len(live) <= 200 and live.endswith(INDICATOR)
    longer = text + "word " * 20
    layout.update(longer, closed=False)
    assert len(layout.parts) == 1
    assert longer.startswith(layout.parts[0])


def test_close_commits_everything_but_the_last_part() -> None:
    layout = Layout(200, INDICATOR)
    text = "word " * 100
    layout.update(text, closed=True)
    parts = [*layout.parts, layout.live(text, closed=True)]
    assert split.join_parts(parts) == text
    assert all(len(part) <= 200 for part in parts)
    assert not parts[-1].endswith(INDICATOR)


def test_open_code_block_is_closed_for_display_only() -> None:
    layout = Layout(2000, INDICATOR)
    text = "Look:\n```python\nprint(1)"
    layout.update(text, closed=False)
    assert layout.live(text, closed=False) == text + "\n```\n▌"
    assert layout.live(text, closed=True) == text


def test_indicator_never_extends_a_fence_line() -> None:
    layout = Layout(2000, INDICATOR)
    text = "Look:\n```"
    layout.update(text, closed=False)
    assert layout.live(text, closed=False).endswith("```\n```\n▌")


def test_too_small_a_message_is_refused() -> None:
    with pytest.raises(ValueError, match="max_chars=40"):
        Layout(40, INDICATOR)
