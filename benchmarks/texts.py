"""Synthetic model answers for the planning benchmarks: prose paragraphs and code blocks."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence


def mixed_answer(
    rng: random.Random,
    size: int,
    *,
    words: Sequence[str],
    code_share: float,
    code_line: Callable[[int], str],
    max_lines: int,
) -> str:
    """``size`` characters of paragraphs from ``words`` and, with probability ``code_share``
    per block, a fenced Python block of 3 to ``max_lines`` lines (``code_line(n)``)."""
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        if rng.random() < code_share:
            lines = "\n".join(code_line(n) for n in range(rng.randint(3, max_lines)))
            parts.append(f"```python\ndef step():\n{lines}\n```\n\n")
        else:
            paragraph = " ".join(rng.choice(words) for _ in range(rng.randint(20, 120)))
            parts.append(paragraph.capitalize() + ".\n\n")
    return "".join(parts)[:size]
