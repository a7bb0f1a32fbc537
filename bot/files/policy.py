"""The limits that apply to attached files (``FILE_*`` settings) and which models see images."""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import EnvReader

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_FETCH_SECONDS = 30.0
DEFAULT_TEXT_TOKENS = 8000
DEFAULT_IMAGE_KEEP_BYTES = 1024 * 1024
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class FilePolicy:
    """How files are read: download size and time bounds, the text budget per message (in
    tokens, about four characters each), and how large an image may be to be kept in history."""

    max_bytes: int = DEFAULT_MAX_BYTES
    fetch_seconds: float = DEFAULT_FETCH_SECONDS
    text_tokens: int = DEFAULT_TEXT_TOKENS
    image_keep_bytes: int = DEFAULT_IMAGE_KEEP_BYTES
    vision_models: tuple[str, ...] = ()
    """``LLM_VISION_MODELS`` globs; empty: every model is sent images until it rejects them."""

    @property
    def text_chars(self) -> int:
        return self.text_tokens * CHARS_PER_TOKEN


@dataclass(slots=True)
class VisionModels:
    """Which models are sent image parts: those ``LLM_VISION_MODELS`` names (every model when
    it is unset), minus those an endpoint was seen to reject images for (remembered for the
    process's life and logged once)."""

    patterns: tuple[str, ...] = ()
    blind: set[str] = field(default_factory=set)

    def sees(self, model: str) -> bool:
        if model in self.blind:
            return False
        return not self.patterns or any(fnmatch.fnmatchcase(model, p) for p in self.patterns)

    def learn_blind(self, model: str, detail: str) -> None:
        if model not in self.blind:
            self.blind.add(model)
            logger.warning(
                "model %s rejected image input (%s); it is sent text notes instead from now on",
                model,
                detail,
            )


def load_file_policy(env: EnvReader) -> FilePolicy:
    """``FILE_MAX_BYTES``, ``FILE_FETCH_SECONDS``, ``FILE_TEXT_TOKENS``,
    ``FILE_IMAGE_KEEP_BYTES`` and ``LLM_VISION_MODELS`` (comma list, globs allowed)."""
    globs = tuple(p.strip() for p in env.text("LLM_VISION_MODELS").split(",") if p.strip())
    return FilePolicy(
        max_bytes=env.integer("FILE_MAX_BYTES", DEFAULT_MAX_BYTES, low=1),
        fetch_seconds=env.number("FILE_FETCH_SECONDS", DEFAULT_FETCH_SECONDS, low=0.1, high=600),
        text_tokens=env.integer("FILE_TEXT_TOKENS", DEFAULT_TEXT_TOKENS, low=0),
        image_keep_bytes=env.integer("FILE_IMAGE_KEEP_BYTES", DEFAULT_IMAGE_KEEP_BYTES, low=0),
        vision_models=globs,
    )
