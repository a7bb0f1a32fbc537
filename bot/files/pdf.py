"""PDF text through pypdf: the text layer only (no OCR), page by page, never any script."""

from __future__ import annotations

import io

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from bot.attachments import FileRefused

MAX_PAGES = 200


def pdf_text(data: bytes, max_chars: int) -> str:
    """The text of a PDF's pages (at most ``MAX_PAGES``), stopping once ``max_chars`` are read.

    An encrypted, broken or text-less PDF is refused with a reason."""
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise FileRefused("the PDF is encrypted")
        parts: list[str] = []
        total = 0
        for page in reader.pages[:MAX_PAGES]:
            text = page.extract_text() or ""
            parts.append(text)
            total += len(text)
            if total > max_chars:
                break
    except PyPdfError as exc:
        raise FileRefused("the PDF could not be read") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # pypdf on broken files
        raise FileRefused("the PDF could not be read") from exc
    joined = "\n\n".join(p.strip() for p in parts if p.strip())
    if not joined:
        raise FileRefused("the PDF has no text layer (a scan?)")
    return joined
