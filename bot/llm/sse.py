"""Server-sent events framing, incremental over lines (pure; no I/O).

Follows the WHATWG event-stream rules the completions endpoint relies on:

- ``data:`` lines accumulate; a blank line dispatches the event, its data lines joined by
  ``\\n``. One optional space after the colon is removed.
- Lines starting with ``:`` are comments (keep-alives) and are ignored.
- ``event:``, ``id:``, ``retry:`` and unknown fields are ignored: chat-completions chunks carry
  everything in ``data``.
- Line endings are ``\\n``, ``\\r\\n`` or ``\\r`` and nothing else. ``LineSplitter`` splits raw
  bytes itself: ``str.splitlines`` (and so ``httpx.Response.aiter_lines``) would also break lines at
  U+0085, U+2028 and friends, which JSON allows unescaped inside a model's text.
- Unlike a browser, data still pending when the stream ends is dispatched by ``flush`` (a
  server that omits the final blank line must not lose its last chunk).
"""

from __future__ import annotations

from bot.errors import LLMProtocolError

MAX_LINE_BYTES = 8 * 1024 * 1024


class LineSplitter:
    """Split a byte stream into UTF-8 lines at ``\\n``, ``\\r\\n`` or ``\\r`` only."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, data: bytes) -> list[str]:
        """Complete lines found so far (without terminators); the rest waits for more bytes."""
        buffer = self._tail + data
        if b"\r" in buffer:
            held = b"\r" if buffer.endswith(b"\r") else b""  # maybe the start of a CRLF
            buffer = buffer[: len(buffer) - len(held)].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        else:
            held = b""
        lines = buffer.split(b"\n")
        self._tail = lines.pop() + held
        if len(self._tail) > MAX_LINE_BYTES:
            raise LLMProtocolError(f"a server-sent-events line exceeds {MAX_LINE_BYTES} bytes")
        return [line.decode("utf-8", "replace") for line in lines]

    def flush(self) -> list[str]:
        """The last, unterminated line at the end of the stream (if any)."""
        tail, self._tail = self._tail.rstrip(b"\r"), b""
        return [tail.decode("utf-8", "replace")] if tail else []


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


def decode_body(body: bytes) -> list[str]:
    """Decode a whole event-stream body at once (tests, tools): every event's data, in order."""
    splitter, decoder = LineSplitter(), SSEDecoder()
    lines = splitter.feed(body) + splitter.flush()
    events = [data for line in lines if (data := decoder.feed(line)) is not None]
    tail = decoder.flush()
    return [*events, tail] if tail is not None else events
