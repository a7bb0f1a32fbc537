"""Local token estimates, calibrated from the ``prompt_tokens`` the API reports.

No tokenizer is downloaded: we count characters and learn, per model, how many tokens a
character costs from what the endpoint bills. The first guess (4 characters a token, a little
pessimistic for English) errs towards sending less history, never towards overflowing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_TOKENS_PER_CHAR = 0.3
PER_MESSAGE_OVERHEAD = 4
SMOOTHING = 0.3
MIN_RATIO, MAX_RATIO = 0.05, 2.0


@dataclass(slots=True)
class TokenEstimator:
    """Characters → tokens, with a per-model ratio learned from real usage."""

    _ratios: dict[str, float] = field(default_factory=dict)

    def ratio(self, model: str) -> float:
        return self._ratios.get(model, DEFAULT_TOKENS_PER_CHAR)

    def estimate_text(self, model: str, text: str) -> int:
        return int(len(text) * self.ratio(model)) + PER_MESSAGE_OVERHEAD

    def estimate_messages(self, model: str, messages: list[dict[str, str]]) -> int:
        return sum(self.estimate_text(model, m["content"]) for m in messages)

    def calibrate(self, model: str, messages: list[dict[str, str]], prompt_tokens: int) -> None:
        """Blend in the ratio implied by a request's billed ``prompt_tokens``."""
        chars = sum(len(m["content"]) for m in messages)
        overhead = PER_MESSAGE_OVERHEAD * len(messages)
        if chars <= 0 or prompt_tokens <= overhead:
            return
        observed = (prompt_tokens - overhead) / chars
        observed = min(MAX_RATIO, max(MIN_RATIO, observed))
        current = self._ratios.get(model)
        self._ratios[model] = (
            observed if current is None else current + SMOOTHING * (observed - current)
        )
