"""What a file is, judged by its bytes (magic numbers, decodability), never by its name alone.

The declared type only breaks ties; a file that claims to be an image but is not, or bytes
that decode as neither UTF-8 nor UTF-16 text, are refused.
"""

from __future__ import annotations

from enum import StrEnum

IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
PDF_MAGIC = b"%PDF-"


class Kind(StrEnum):
    TEXT = "text"
    PDF = "pdf"
    IMAGE = "image"
    UNKNOWN = "unknown"


def sniff(data: bytes) -> tuple[Kind, str]:
    """The file's kind and its real MIME type (``text/plain`` for any text)."""
    for magic, mime in IMAGE_MAGIC:
        if data.startswith(magic):
            return Kind.IMAGE, mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return Kind.IMAGE, "image/webp"
    if data.lstrip()[:5] == PDF_MAGIC:
        return Kind.PDF, "application/pdf"
    if decode_text(data) is not None:
        return Kind.TEXT, "text/plain"
    return Kind.UNKNOWN, "application/octet-stream"


def decode_text(data: bytes) -> str | None:
    """The text of ``data`` when it is UTF-8 (BOM or not) or UTF-16 with a BOM, else None.

    NUL bytes or other control characters (besides tab, newline, CR, form feed, escape) mean
    binary, whatever decodes."""
    for encoding, bom in (("utf-16", b"\xff\xfe"), ("utf-16", b"\xfe\xff"), ("utf-8-sig", b"")):
        if bom and not data.startswith(bom):
            continue
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return text if _printable(text) else None
    return None


def _printable(text: str) -> bool:
    allowed = {"\t", "\n", "\r", "\f", "\x1b"}
    return not any(ord(ch) < 32 and ch not in allowed for ch in text[:65536])
