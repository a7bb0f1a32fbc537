"""From an ``Attachment`` to what is stored with the question and sent to the model.

Each file becomes one record (a plain dict, stored in the question's ``extra["files"]``):

- ``{"name", "kind": "text", "text", "chars", "cut"}``: text files and PDF text, cut to what is
  left of the message's text budget (``cut`` = characters left out);
- ``{"name", "kind": "image", "mime", "size", "data"}``: ``data`` is the base64 of the image
  when it is at most ``image_keep_bytes`` (kept so follow-ups can see it), else "" (sent this
  once, then only named);
- ``{"name", "kind": "refused", "reason"}``: too large, unreadable, an unsupported type, a
  failed or slow download.

Nothing is ever executed: bytes are only sniffed, decoded, parsed by pypdf or base64-encoded.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Sequence
from typing import Any

import httpx

from bot.attachments import Attachment, FileRefused
from bot.files.pdf import pdf_text
from bot.files.policy import FilePolicy
from bot.files.sniff import Kind, decode_text, sniff

logger = logging.getLogger(__name__)

FileRecord = dict[str, Any]


async def prepare_all(
    attachments: Sequence[Attachment], policy: FilePolicy
) -> tuple[list[FileRecord], dict[str, bytes]]:
    """Records for ``attachments`` (in order) sharing one text budget, and the full bytes of
    the images among them by name (sent with this question even when too large to keep)."""
    records: list[FileRecord] = []
    images: dict[str, bytes] = {}
    room = policy.text_chars
    for attachment in attachments:
        record, data = await _prepare_one(attachment, policy, room)
        if record["kind"] == "text":
            room = max(0, room - len(record["text"]))
        elif record["kind"] == "image" and data is not None:
            images[attachment.name] = data
        records.append(record)
    return records, images


async def _prepare_one(
    attachment: Attachment, policy: FilePolicy, room: int
) -> tuple[FileRecord, bytes | None]:
    try:
        data = await _download(attachment, policy)
        return _read(attachment.name, data, policy, room)
    except FileRefused as exc:
        logger.info("file %r not read: %s", attachment.name, exc)
        return refused(attachment.name, str(exc)), None


def refused(name: str, reason: str) -> FileRecord:
    return {"name": name, "kind": "refused", "reason": reason}


async def _download(attachment: Attachment, policy: FilePolicy) -> bytes:
    if attachment.size > policy.max_bytes:
        raise FileRefused(f"it is larger than {_size(policy.max_bytes)}")
    try:
        async with asyncio.timeout(policy.fetch_seconds):
            data = await attachment.fetch(policy.max_bytes)
    except TimeoutError:
        raise FileRefused("the download took too long") from None
    except (httpx.HTTPError, OSError) as exc:
        logger.warning("download of %r failed: %s", attachment.name, exc)
        raise FileRefused("the download failed") from None
    if len(data) > policy.max_bytes:
        raise FileRefused(f"it is larger than {_size(policy.max_bytes)}")
    if not data:
        raise FileRefused("it is empty")
    return data


def _read(name: str, data: bytes, policy: FilePolicy, room: int) -> tuple[FileRecord, bytes | None]:
    kind, mime = sniff(data)
    if kind is Kind.IMAGE:
        keep = len(data) <= policy.image_keep_bytes
        encoded = base64.b64encode(data).decode("ascii") if keep else ""
        record = {"name": name, "kind": "image", "mime": mime, "size": len(data), "data": encoded}
        return record, data
    if kind is Kind.PDF:
        return _text_record(name, pdf_text(data, room + 1), room), None
    if kind is Kind.TEXT:
        return _text_record(name, decode_text(data) or "", room), None
    raise FileRefused("it is not a text file, PDF or image")


def _text_record(name: str, text: str, room: int) -> FileRecord:
    kept = text[:room]
    return {
        "name": name,
        "kind": "text",
        "text": kept,
        "chars": len(text),
        "cut": len(text) - len(kept),
    }


def _size(limit: int) -> str:
    return f"{limit / 1024 / 1024:g} MB" if limit >= 1024 * 1024 else f"{limit:,} bytes"
