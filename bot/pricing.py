"""Model prices and what a number of tokens costs (``MODEL_PRICES``).

``MODEL_PRICES`` is ``model=input/output,...`` in USD per million tokens, e.g.
``llama-3.1-nemotron=0.20/0.20,gpt-4o=2.50/10.00``. Decided: a model without a price costs
nothing known (``cost`` returns None and reports say "no price"), never a guessed figure;
prices are exact decimals, so sums of many small requests do not drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

PER_TOKENS = Decimal(1_000_000)
ACCEPTED = "model=input/output pairs in USD per million tokens, e.g. 'gpt-4o=2.50/10.00'"


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million input (prompt) and output (completion) tokens."""

    input: Decimal
    output: Decimal

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        """What ``prompt_tokens`` in and ``completion_tokens`` out cost, in USD."""
        return (self.input * prompt_tokens + self.output * completion_tokens) / PER_TOKENS


def parse_prices(text: str) -> dict[str, Price]:
    """``model=in/out,...`` → prices; ``ValueError`` for anything else (empty text: none)."""
    prices: dict[str, Price] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        model, sep, pair = item.strip().rpartition("=")
        given, slash, taken = pair.partition("/")
        if not sep or not model.strip() or not slash:
            raise ValueError(item)
        prices[model.strip()] = Price(_amount(given), _amount(taken))
    return prices


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite() or value < 0:
        raise ValueError(text)
    return value


def cost(
    prices: Mapping[str, Price], model: str, prompt_tokens: int, completion_tokens: int
) -> Decimal | None:
    """USD for one model's tokens; None when ``model`` has no price."""
    price = prices.get(model)
    return None if price is None else price.cost(prompt_tokens, completion_tokens)


def usd(amount: Decimal | None) -> str:
    """Cents from a dollar up, 4 decimals below (6 below $0.0001, so small spend never shows
    as zero); ``no price`` for None."""
    if amount is None:
        return "no price"
    places = (
        "0.01"
        if amount >= 1 or not amount
        else "0.0001"
        if amount >= Decimal("0.0001")
        else "0.000001"
    )
    return f"${amount.quantize(Decimal(places))}"


__all__ = ["ACCEPTED", "Price", "cost", "parse_prices", "usd"]
