"""Files people bring to a message, as adapters hand them to the core.

An adapter describes each file (name, declared type, declared size) and gives a ``fetch``
callable that downloads it, authenticated the platform's way and never more than the byte
limit it is given. The engine calls ``fetch`` only in the answer's turn, after the question
is stored, so the platform's acknowledgement never waits for a download.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Fetch = Callable[[int], Awaitable[bytes]]
"""Download the file, reading at most ``limit + 1`` bytes; raise ``FileRefused`` (or any
``OSError``/``httpx.HTTPError``) when it cannot."""


class FileRefused(Exception):
    """A file that is not read; ``str(exc)`` is the short reason shown to the user."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """One file of an incoming message."""

    name: str
    mime: str
    size: int
    fetch: Fetch

    def describe(self) -> dict[str, object]:
        """What is stored with the question before the file is fetched."""
        return {"name": self.name, "mime": self.mime, "size": self.size, "kind": "pending"}
