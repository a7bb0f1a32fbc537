"""Hypothesis strategies for answer text: prose, code fences with languages, long lines."""

from __future__ import annotations

from hypothesis import strategies as st

WORDS = ["the", "model", "answer", "streams", "Slack", "Discord", "naïve", "日本語", "🙂", "x=1"]
LANGUAGES = ["", "python", "js", "rust", "c++", "shell script"]
FENCES = ["```", "```", "````", "~~~"]


@st.composite
def prose(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12))
    ending = draw(st.sampled_from([". ", "! ", "? ", ", ", " ", "\n", "\n\n", ".\n\n"]))
    repeat = draw(st.sampled_from([1, 1, 1, 5, 40]))
    return (" ".join(words) + ending) * repeat


@st.composite
def code_block(draw: st.DrawFn) -> str:
    fence = draw(st.sampled_from(FENCES))
    language = draw(st.sampled_from(LANGUAGES))
    line = draw(st.sampled_from(["x = 1", "    return f(x)  # ok", "", "print('```')", "a" * 90]))
    count = draw(st.integers(1, 120))
    closed = draw(st.booleans() | st.just(True))
    body = "\n".join([line] * count)
    return f"{fence}{language}\n{body}\n" + (f"{fence}\n" if closed else "")


@st.composite
def long_run(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["y", "ab", "é", "-"])) * draw(st.integers(1, 3000))


blocks = st.one_of(
    prose(),
    prose(),
    code_block(),
    long_run(),
    st.sampled_from(["@everyone ", "@here\n", "`", "\n"]),
)

answers = st.lists(blocks, min_size=0, max_size=25).map("".join).map(lambda text: text[:20_000])
