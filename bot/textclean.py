"""Text that every database and JSON encoder accepts.

A lone UTF-16 surrogate (JSON ``"\\ud83d"`` without its pair: a client that cut an emoji in
half) decodes into a Python ``str`` that cannot be encoded as UTF-8, so storing it fails with
``UnicodeEncodeError``. Such code points are replaced with U+FFFD, the replacement character,
the way a UTF-8 decoder treats broken input. Valid pairs never reach Python as surrogates
(``json`` joins them), so only lone ones are touched.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def scrub(text: str) -> str:
    """``text`` with lone surrogates replaced; the same object when there are none."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(REPLACEMENT, text)
    return text
