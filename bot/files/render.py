"""How stored file records read in the prompt: labelled text blocks, image references, notes.

A text file is a block opened by ``[File: NAME]`` and closed by ``[End of NAME]``; what the
budget cut is said inside it. An image is either sent as an ``image_url`` part (``ImageRef``)
for a model that sees, or named in a one-line note for one that does not (or when its bytes
were too large to keep for a follow-up).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

IMAGE_TOKENS = 850
"""What one image is counted as against the prompt budget (a 1024-pixel image, high detail)."""


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An image to send as an ``image_url`` part: a ``data:`` URL with base64 bytes."""

    name: str
    url: str


def data_url(mime: str, encoded: str) -> str:
    return f"data:{mime};base64,{encoded}"


def text_block(record: dict[str, Any]) -> str:
    name, text = record["name"], record["text"]
    lines = [f"[File: {name}]", text]
    if record.get("cut"):
        lines.append(
            f"[… {record['cut']:,} of {record['chars']:,} characters of {name} were cut "
            "to fit the file budget]"
        )
    lines.append(f"[End of {name}]")
    return "\n".join(lines)


def image_note(name: str, why: str) -> str:
    return f"[Image {name}: not read ({why})]"


def refused_note(record: dict[str, Any]) -> str:
    return f"[File {record['name']}: not read ({record['reason']})]"


def render_files(
    records: Iterable[dict[str, Any]], *, sees: bool, fresh: dict[str, bytes] | None = None
) -> tuple[str, list[ImageRef]]:
    """The text to append to a message for its files, and the images to send with it.

    ``fresh`` holds the bytes of images attached to the question being answered now (sent even
    when too large to keep)."""
    import base64

    blocks: list[str] = []
    images: list[ImageRef] = []
    for record in records:
        kind = record.get("kind")
        if kind == "text":
            blocks.append(text_block(record))
        elif kind == "image":
            encoded = record.get("data") or ""
            if not encoded and fresh and record["name"] in fresh:
                encoded = base64.b64encode(fresh[record["name"]]).decode("ascii")
            if not sees:
                blocks.append(image_note(record["name"], "this model cannot see images"))
            elif not encoded:
                blocks.append(image_note(record["name"], "too large to keep for follow-ups"))
            else:
                blocks.append(f"[Image: {record['name']}]")
                images.append(ImageRef(record["name"], data_url(record["mime"], encoded)))
        elif kind == "refused":
            blocks.append(refused_note(record))
        elif kind == "pending":
            blocks.append(f"[File {record.get('name', '?')}: not read (it was not fetched)]")
    return "\n\n".join(blocks), images
