"""Extended grapheme-cluster boundaries (Unicode UAX #29), judged from a small window.

Segmentation comes from the ``regex`` package's ``\\X``: it is actively maintained (releases
follow each Unicode version), implements the full UAX #29 rules (emoji ZWJ sequences and
modifiers, regional-indicator pairs, Hangul syllables, Indic conjuncts) in C, and looks behind
its start position where the rules need it (regional-indicator parity). The standard library
has neither ``\\X`` nor the break properties, and hand-written tables would go stale with each
Unicode release.

A boundary at ``pos`` depends only on the text before ``pos`` and on ``text[pos]``, so it is
final once one character past ``pos`` exists. ``\\X`` started inside a cluster can report false
boundaries only until the first true one; starting ``WINDOW`` code points back therefore judges
every cluster shorter than ``WINDOW`` correctly (the longest emoji sequences have about ten
code points). A longer cluster (dozens of stacked combining marks) may be cut inside, which a
cluster wider than a message needs anyway.

Most pairs never reach ``\\X``: two ASCII characters other than CR LF always have a boundary
between them, and so does any character but a Prepend one followed by a character of break
class Other that is neither Extended_Pictographic nor an Indic conjunct consonant (no UAX #29
rule but GB999 applies to such a pair; the properties come from ``regex`` too).
"""

from __future__ import annotations

import regex

WINDOW = 32
"""Code points before a position that are segmented to judge it."""

_UP_TO_LAST = regex.compile(r"(?s)(?:\X(?=.))*+")
"""Every cluster but the last: ends where the last cluster of the searched span starts."""
_PLAIN_PAIR = regex.compile(
    r"[^\p{Grapheme_Cluster_Break=Prepend}]"
    r"(?![\p{Extended_Pictographic}\p{Indic_Conjunct_Break=Consonant}])"
    r"\p{Grapheme_Cluster_Break=Other}"
)
_MAY_GROW = regex.compile(
    r"[\p{Extended_Pictographic}\p{Emoji_Modifier}\p{Regional_Indicator}"
    r"\u200d\ufe0f\U000E0020-\U000E007E]"
)
"""Last characters after which an emoji sequence commonly continues (a modifier, a joiner,
the second half of a flag, a tag)."""


def is_boundary(text: str, pos: int) -> bool:
    """Whether a cut at ``pos`` keeps every grapheme cluster whole (both ends always do)."""
    if pos <= 0 or pos >= len(text):
        return True
    pair = text[pos - 1 : pos + 1]
    if pair.isascii():
        return pair != "\r\n"
    if _PLAIN_PAIR.match(pair) is not None:
        return True
    return _last_start(text, max(0, pos - WINDOW), pos + 1) == pos


def last_cluster_start(text: str, end: int) -> int:
    """Where the last grapheme cluster of ``text[:end]`` starts."""
    return _last_start(text, max(0, end - WINDOW), end)


def _last_start(text: str, begin: int, end: int) -> int:
    match = _UP_TO_LAST.match(text, begin, end)
    assert match is not None  # the pattern matches the empty string
    found: int = match.end()
    return found


def may_grow(text: str) -> bool:
    """Whether ``text`` ends like an emoji sequence that the next characters may extend."""
    return bool(text) and not text[-1].isascii() and _MAY_GROW.match(text[-1]) is not None
