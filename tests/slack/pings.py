"""What counts as a ping in text the bot sends, and where the fake Slack recorded such text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from tests.fakes.slack_api import FakeSlack

SPECIAL_OPENING = re.compile(r"<!(?:here|channel|everyone|subteam)|<@[UW]", re.IGNORECASE)
BARE = re.compile(r"(?<![\w@\u2060])@(?:here|channel|everyone)\b", re.IGNORECASE)
STREAM_METHODS = ("chat.startStream", "chat.appendStream", "chat.stopStream")


def pings(text: str, asker: str = "") -> list[str]:
    """Every would-be notification in ``text``; a mention of ``asker`` is allowed."""
    found = [text[m.start() : m.start() + 24] for m in BARE.finditer(text)]
    for match in SPECIAL_OPENING.finditer(text):
        rest = text[match.start() :]
        if asker and re.match(rf"<@{re.escape(asker)}[|>]", rest):
            continue
        found.append(rest[:24])
    return found


def strings(value: Any) -> Iterator[str]:
    """Every string inside a call argument (``text``, ``markdown_text``, blocks, chunks)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def leaks(slack: FakeSlack, asker: str = "") -> list[tuple[str, str]]:
    """(method, excerpt) for every ping in any recorded call, or in any state a message showed
    (a native stream shows the concatenation of its pieces)."""
    found = [
        (call.method, ping)
        for call in slack.calls
        for text in strings({k: v for k, v in call.args.items() if k != "token"})
        for ping in pings(text, asker)
    ]
    for channel in slack.messages.values():
        for message in channel.values():
            for state in message.states:
                found += [("shown", ping) for ping in pings(state, asker)]
    return found


def stream_calls(slack: FakeSlack) -> int:
    return sum(1 for call in slack.calls if call.method in STREAM_METHODS)
