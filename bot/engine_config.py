"""The engine's share of the settings, read by the engine and its parts (``bot.engine``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.files.policy import FilePolicy
from bot.governance import GovernanceConfig
from bot.moderation import Moderator
from bot.params import GenerationParams
from bot.redact import Redactor
from bot.work import DEFAULT_LEASE_SECONDS


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """The engine's share of the settings."""

    defaults: GenerationParams
    system_prompt: str
    context_tokens: Callable[[str], int]
    max_concurrent: int = 32
    supersede: bool = False
    user_salt: str = ""
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    single_process: bool = False
    """SQLite: one process serves the database, so at start it takes over every job at once."""
    controls_open: bool = False
    """Whether anyone (not only the asker and admins) may press Stop and Regenerate."""
    governance: GovernanceConfig = field(default_factory=GovernanceConfig)
    """Access rules, quotas, flood control and prices (``bot.governance``)."""
    redactor: Redactor | None = None
    """What is replaced by placeholders before a prompt is sent (``bot.redact``); None: off."""
    moderator: Moderator | None = None
    """Checks questions and complete answers (``bot.moderation``); None: off."""
    files: FilePolicy = field(default_factory=FilePolicy)
    """Limits on attached files and which models are sent images (``bot.files``)."""


__all__ = ["EngineConfig"]
