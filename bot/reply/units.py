"""The unit a platform counts its message-size limit in, and measuring text in it.

* **Discord** counts Unicode code points, which is Python's ``len``: its API is written in
  Python 3 and measures ``content`` (2,000) by code points (Discord staff in
  discord/discord-api-docs#1315, "Our API uses Python 3, so the API calculates length based on
  the number of codepoints"; discord.py 2.7 itself does not check the length).
* **Slack** documents its limits (12,000 for ``markdown`` blocks, 40,000 for ``text``) in
  "characters" without naming a unit. We count UTF-16 code units there: never fewer than code
  points, and a UTF-8 byte count is at most three times the UTF-16 count, so a message within
  ``MAX_CHARS`` = 3,500 units is within 12,000 whichever of the three Slack means.

The code-point path is ``len`` with nothing added. The UTF-16 path is exact and runs in C
(``str.isascii`` is O(1) in CPython; otherwise one ``encode``).
"""

from __future__ import annotations

from enum import StrEnum


class TextUnit(StrEnum):
    """What one unit of a platform's message-size limit is."""

    CODE_POINTS = "code points"
    UTF16 = "UTF-16 code units"


_HIGH_SURROGATES = range(0xD800, 0xDC00)


def size(text: str, unit: TextUnit) -> int:
    """How many ``unit`` ``text`` holds."""
    if unit is TextUnit.CODE_POINTS or text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) >> 1


def fits(text: str, room: int, unit: TextUnit) -> bool:
    """Whether ``text`` holds at most ``room`` ``unit`` (cheap when the answer is obvious)."""
    length = len(text)
    if length > room:
        return False
    return unit is TextUnit.CODE_POINTS or 2 * length <= room or size(text, unit) <= room


def end_within(text: str, start: int, room: int, unit: TextUnit) -> int:
    """The largest ``end`` such that ``text[start:end]`` holds at most ``room`` ``unit``."""
    end = min(len(text), start + max(0, room))
    if unit is TextUnit.CODE_POINTS:
        return end
    window = text[start:end]
    if fits(window, room, unit):
        return end
    encoded = window.encode("utf-16-le", "surrogatepass")[: 2 * room]
    if len(encoded) >= 2 and (encoded[-2] | (encoded[-1] << 8)) in _HIGH_SURROGATES:
        encoded = encoded[:-2]  # half of a character beyond the room
    return start + len(encoded.decode("utf-16-le", "surrogatepass"))
