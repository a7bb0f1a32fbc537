"""Cuts keep grapheme clusters and platform tokens whole, and sizes count in the platform unit.

The oracles here are independent of ``bot.reply``: cluster boundaries come from segmenting the
whole text with ``regex``'s ``\\X``, tokens from one pattern per documented token form, and
UTF-16 sizes from encoding.
"""

from __future__ import annotations

import random

import regex
from hypothesis import HealthCheck, given, settings, strategies as st

from bot.reply import split, units
from bot.reply.layout import Layout
from bot.reply.units import TextUnit
from tests.reply.strategies import code_block

INDICATOR = " ▌"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
THUMBS = "\U0001f44d\U0001f3fd"
FLAG = "\U0001f1eb\U0001f1f7"
KEYCAP = "1\ufe0f\u20e3"
E_ACUTE = "e\u0301"
HANGUL = "\u1100\u1161\u11a8"
CLUSTERS = [
    FAMILY,
    THUMBS,
    FLAG,
    KEYCAP,
    E_ACUTE,
    HANGUL,
    "\U0001f3f4\U000e0067\U000e0062\U000e007f",
]
TOKENS = [
    "<@U123|name>",
    "<#C123|chan>",
    "<!here>",
    "<!subteam^S1|@team>",
    "<https://example.com/a?b=c|a label with spaces>",
    "<@123>",
    "<@!123>",
    "<@&123>",
    "<#123>",
    "<:name:123>",
    "<a:name:123>",
    "<t:1700000000:R>",
]
_ORACLE_TOKEN = regex.compile(
    r"<(?:[@#][!&]?\w+(?:\|[^<>\n]*)?|![\w^]+(?:\|[^<>\n]*)?|a?:\w+:\d+|t:\d+(?::\w)?"
    r"|https?://[^<>\s|]+(?:\|[^<>\n]*)?)>"
)


def _size(text: str, unit: TextUnit) -> int:
    if unit is TextUnit.UTF16:
        return len(text.encode("utf-16-le", "surrogatepass")) // 2
    return len(text)


def _boundaries(text: str) -> set[int]:
    return {0} | {match.end() for match in regex.finditer(r"\X", text)}


def _inside_token(text: str, pos: int) -> bool:
    return any(m.start() < pos < m.end() for m in _ORACLE_TOKEN.finditer(text))


def _whole_at(text: str, pos: int) -> bool:
    return pos in _boundaries(text) and not _inside_token(text, pos)


def _cuts(text: str, room: int, unit: TextUnit = TextUnit.CODE_POINTS) -> list[int]:
    return [chunk.end for chunk in split.chunks(text, room, unit)][:-1]


def _only_whole(part: str, cluster: str) -> bool:
    return set(regex.findall(r"\X", part)) <= {cluster}


# --- examples -------------------------------------------------------------------------------


def test_hard_cuts_keep_every_kind_of_cluster_whole() -> None:
    for cluster in CLUSTERS:
        text = cluster * (700 // len(cluster))
        for unit in TextUnit:
            parts = split.split_text(text, 100, unit=unit)
            assert len(parts) > 1 and "".join(parts) == text
            assert all(_only_whole(part, cluster) for part in parts), (cluster, unit)
            assert all(_size(part, unit) <= 100 for part in parts)


def test_a_combining_mark_after_a_space_stays_with_it() -> None:
    text = "a" * 70 + ". \u0301" + "b" * 60
    cuts = _cuts(text, 100)
    assert all(cut in _boundaries(text) for cut in cuts)


def test_word_cut_never_splits_a_link_label() -> None:
    text = "x" * 60 + " <https://example.com/a|click here please> tail " + "y " * 40
    first = split.split_text(text, 100)[0]
    assert first == "x" * 60 + " "


def test_hard_cut_moves_before_a_discord_token() -> None:
    text = "y" * 90 + "<t:1700000000:R>" + "z" * 60
    assert split.split_text(text, 100)[0] == "y" * 90


def test_a_token_wider_than_the_window_is_cut_at_a_cluster_boundary() -> None:
    text = "<https://example.com/" + THUMBS * 200 + ">"
    parts = split.split_text(text, 100)
    assert "".join(parts) == text
    assert all(cut in _boundaries(text) for cut in _cuts(text, 100))


def test_utf16_budget_counts_astral_characters_twice() -> None:
    text = ("ab" + THUMBS) * 200
    parts = split.split_text(text, 100, unit=TextUnit.UTF16)
    assert all(_size(part, TextUnit.UTF16) <= 100 for part in parts)
    assert max(_size(part, TextUnit.UTF16) for part in parts) >= 95
    assert max(len(part) for part in parts) < 100


def test_end_within_is_exact() -> None:
    rnd = random.Random(3)
    for _ in range(300):
        text = "".join(rnd.choice(["a", "é", THUMBS, "日", FAMILY]) for _ in range(60))
        start, room = rnd.randrange(len(text)), rnd.randrange(0, 80)
        end = units.end_within(text, start, room, TextUnit.UTF16)
        assert _size(text[start:end], TextUnit.UTF16) <= room
        assert end == len(text) or _size(text[start : end + 1], TextUnit.UTF16) > room


def test_live_message_holds_back_an_emoji_sequence_that_may_grow() -> None:
    layout = Layout(2000, INDICATOR)
    for text, shown in [
        ("Hi " + FAMILY[:3], "Hi "),
        ("Hi " + THUMBS[:1], "Hi "),
        ("Hi " + FLAG[:1], "Hi "),
        ("Hello", "Hello"),
        ("Caf" + E_ACUTE, "Caf" + E_ACUTE),
        (FAMILY[:3], FAMILY[:3]),  # nothing would be left: shown as is
    ]:
        layout.update(text, closed=False)
        assert layout.live(text, closed=False) == shown + INDICATOR
        assert layout.live(text, closed=True) == text


def test_layout_counts_in_its_unit() -> None:
    text = THUMBS * 500
    layout = Layout(300, INDICATOR, TextUnit.UTF16)
    layout.update(text, closed=False)
    live = layout.live(text, closed=False)
    assert _size(live, TextUnit.UTF16) <= 300
    layout.update(text, closed=True)
    parts = [*layout.parts, layout.live(text, closed=True)]
    assert all(_size(part, TextUnit.UTF16) <= 300 for part in parts)
    assert split.join_parts(parts) == text


# --- properties -----------------------------------------------------------------------------


@st.composite
def _prose(draw: st.DrawFn) -> str:
    pieces = st.sampled_from(["word", "naïve", "日本語", "end.", "x=1", *CLUSTERS, *TOKENS])
    words = draw(st.lists(pieces, min_size=1, max_size=15))
    glue = draw(st.sampled_from([" ", "", "\n", ". "]))
    return glue.join(words) + draw(st.sampled_from([" ", "\n", "\n\n", ""]))


@st.composite
def _run(draw: st.DrawFn) -> str:
    return draw(st.sampled_from([*CLUSTERS, "y", " "])) * draw(st.integers(1, 600))


_texts = (
    st.lists(
        st.one_of(_prose(), _prose(), _run(), code_block(), st.sampled_from(TOKENS)), max_size=20
    )
    .map("".join)
    .map(lambda text: text[:8000])
)
_units = st.sampled_from(list(TextUnit))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_texts, st.integers(100, 2000), _units)
def test_split_parts_fit_rejoin_and_cut_between_clusters_and_tokens(
    text: str, room: int, unit: TextUnit
) -> None:
    parts = split.split_text(text, room, unit=unit)
    assert split.join_parts(parts) == text
    assert all(_size(part, unit) <= room for part in parts)
    boundaries = _boundaries(text)
    for cut in _cuts(text, room, unit):
        assert cut in boundaries, f"cut {cut} inside a cluster: {text[cut - 12 : cut + 12]!r}"
        assert not _inside_token(text, cut), f"cut {cut} inside a token"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_texts, st.integers(100, 2000), _units, st.randoms(use_true_random=False))
def test_interim_layouts_fit_and_cut_between_clusters_and_tokens(
    text: str, max_chars: int, unit: TextUnit, rnd: random.Random
) -> None:
    layout = Layout(max_chars, INDICATOR, unit)
    boundaries = _boundaries(text)

    def check_cut(pos: int) -> None:
        assert pos in boundaries and not _inside_token(text, pos), text[pos - 12 : pos + 12]

    position = 0
    while position < len(text):
        position = min(len(text), position + rnd.choice([1, 3, 9, 40, 400]))
        display = text[:position]
        layout.update(display, closed=False)
        live = layout.live(display, closed=False)
        assert all(_size(part, unit) <= max_chars for part in [*layout.parts, live])
        assert live.endswith(INDICATOR.strip())
        shown = layout.shown_end(display)
        chunk = layout.live_chunk(display[:shown])
        interim = [chunk.end] if chunk.end < shown else []
        held = [shown] if shown < len(display) else []
        for cut in [*layout.ends, *interim, *held]:
            check_cut(cut)
    layout.update(text, closed=True)
    parts = [*layout.parts, layout.live(text, closed=True)]
    assert split.join_parts(parts) == text
    assert all(_size(part, unit) <= max_chars for part in parts)
    for cut in layout.ends:
        check_cut(cut)
