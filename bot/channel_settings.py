"""Per-channel settings: the overrides a channel stores and the effective values they give.

A channel may override the system prompt and any generation parameter; threads inherit their
channel's settings. The value ``default`` removes an override.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.errors import SettingError
from bot.params import SPECS, GenerationParams, max_tokens_problem, parse_value

SYSTEM_PROMPT = "system_prompt"
MAX_SYSTEM_PROMPT_CHARS = 8000
SETTING_NAMES = (SYSTEM_PROMPT, *SPECS)
BUDGET_SETTINGS = frozenset({"model", "max_tokens"})


@dataclass(frozen=True, slots=True)
class EffectiveSettings:
    """What a conversation's next completion will use."""

    system_prompt: str
    params: GenerationParams
    overridden: frozenset[str]

    def describe(self) -> str:
        """A plain-text table of every setting, marking channel overrides."""
        lines = [_line(SYSTEM_PROMPT, _short(self.system_prompt), SYSTEM_PROMPT in self.overridden)]
        for name, value in self.params.as_dict().items():
            lines.append(_line(name, _show(value), name in self.overridden))
        return "\n".join(lines)


def _line(name: str, value: str, overridden: bool) -> str:
    return f"{name} = {value}" + ("  (set for this channel)" if overridden else "")


def _short(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _show(value: Any) -> str:
    if value is None:
        return "default"
    if isinstance(value, tuple) and not value:
        return "none"
    if isinstance(value, tuple):
        return ", ".join(f"{v[0]}:{v[1]}" if isinstance(v, tuple) else repr(v) for v in value)
    return str(value)


def effective(
    defaults: GenerationParams, system_prompt: str, overrides: Mapping[str, Any]
) -> EffectiveSettings:
    """Apply stored overrides to the global defaults (bad stored values are ignored)."""
    params = defaults
    for name, value in overrides.items():
        if name in SPECS:
            try:
                params = params.merged({name: value})
            except SettingError:
                continue
    prompt = overrides.get(SYSTEM_PROMPT)
    return EffectiveSettings(
        system_prompt=prompt if isinstance(prompt, str) and prompt else system_prompt,
        params=params,
        overridden=frozenset(n for n in overrides if n in SETTING_NAMES),
    )


def apply_change(
    overrides: Mapping[str, Any],
    name: str,
    raw: str,
    *,
    defaults: GenerationParams | None = None,
    context_tokens: Callable[[str], int] | None = None,
) -> dict[str, Any]:
    """New overrides with ``name`` set from text ``raw`` (``default`` clears it).

    Given the global ``defaults`` and the ``context_tokens`` of each model, a change of
    ``model`` or ``max_tokens`` is refused when the channel's effective ``max_tokens`` would
    not leave room for a prompt in its effective model's context window.
    """
    if name not in SETTING_NAMES:
        raise SettingError(f"Unknown setting {name!r}. Settings: {', '.join(SETTING_NAMES)}.")
    updated = dict(overrides)
    if raw.strip().lower() == "default":
        updated.pop(name, None)
    else:
        updated[name] = _checked(name, raw)
    if name in BUDGET_SETTINGS and defaults is not None and context_tokens is not None:
        _check_budget(name, effective(defaults, "", updated).params, context_tokens)
    return updated


def _check_budget(
    name: str, params: GenerationParams, context_tokens: Callable[[str], int]
) -> None:
    problem = max_tokens_problem(params, context_tokens(params.model))
    if not problem:
        return
    advice = "" if name == "max_tokens" else "; lower max_tokens first"
    raise SettingError(f"{problem}{advice}.")


def _checked(name: str, raw: str) -> Any:
    if name == SYSTEM_PROMPT:
        text = raw.strip()
        if not text or len(text) > MAX_SYSTEM_PROMPT_CHARS:
            raise SettingError(
                f"system_prompt must be 1 to {MAX_SYSTEM_PROMPT_CHARS} characters (or 'default')."
            )
        return text
    value = parse_value(name, raw)
    if isinstance(value, tuple):
        return [list(v) if isinstance(v, tuple) else v for v in value]
    return value
