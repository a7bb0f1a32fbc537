"""Server-sent events framing, incremental over lines (pure; no I/O).

Follows the WHATWG event-stream rules the completions endpoint relies on:

- ``data:`` lines accumulate; a blank line dispatches the event, its data lines joined by
  ``\\n``. One optional space after the colon is removed.
- Lines starting with ``:`` are comments (keep-alives) and are ignored.
- ``event:``, ``id:``, ``retry:`` and unknown fields are ignored: chat-completions chunks carry
  everything in ``data``.
- Line endings may be ``\\n``, ``\\r\\n`` or ``\\r``; trailing terminators left on a line are
  stripped.
- Unlike a browser, data still pending when the stream ends is dispatched by ``flush`` (a
  server that omits the final blank line must not lose its last chunk).
"""

from __future__ import annotations


class SSEDecoder:
    """Feed lines one at a time; ``feed`` returns an event's data when the event completes."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """Consume one line (with or without its terminator)."""
        line = line.rstrip("\r\n")
        if not line:
            return self.flush()
        if line[0] == ":":
            return None
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value[:1] == " " else value)
        return None

    def flush(self) -> str | None:
        """Dispatch the pending event, if any data was collected."""
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data = []
        return data


def iter_events(text: str) -> list[str]:
    """Decode a whole event-stream body at once (tests, tools); same rules as ``SSEDecoder``."""
    decoder = SSEDecoder()
    events = [data for line in text.splitlines() if (data := decoder.feed(line)) is not None]
    tail = decoder.flush()
    return [*events, tail] if tail is not None else events
