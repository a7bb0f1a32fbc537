"""Typed settings, read once at start from the environment and an optional ``.env`` file.

Precedence: a variable set in the process environment wins over the same name in ``.env``;
``.env`` (in the working directory, or the file named by ``THREADLINE_ENV_FILE``) wins over
the defaults below. Every problem raises ``ConfigError`` naming the variable, the bad value
and what is accepted. Secret values are kept in ``Secret`` and never printed.

Adapters read their own variables through the same ``EnvReader``, so all errors look alike.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.errors import ConfigError, SettingError
from bot.files.policy import FilePolicy, load_file_policy
from bot.governance import GovernanceConfig, load_governance
from bot.llm.accepted import DEFAULT_COMPLETION_TOKEN_MODELS
from bot.moderation import ModerationSettings, load_moderation
from bot.params import (
    DEFAULT_MAX_TOKENS,
    SPECS,
    GenerationParams,
    max_tokens_problem,
    parse_value,
)
from bot.redact import Redactor, load_redaction

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.302.ai/v1"
DEFAULT_MODEL = "llama-3.1-nemotron"
DEFAULT_SYSTEM_PROMPT = (
    "You are Threadline, a helpful assistant in a team chat. Today is {date}. "
    "Answer clearly and concisely, using Markdown where it helps."
)
SECRET_NAMES = ("KEY", "TOKEN", "SECRET", "PASSWORD", "SALT")
DATABASE_DRIVERS = ("sqlite", "sqlite+aiosqlite", "postgres", "postgresql", "postgresql+asyncpg")
MAX_TIMEOUT = 86400.0
MAX_DAYS = 36500


class Secret:
    """A string that never shows itself in ``repr`` or ``str``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__


def parse_env_file(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file: ``NAME=value`` lines, ``#`` comments, optional quotes/``export``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; fix or remove it.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}.") from None
    values: dict[str, str] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name.replace("_", "").isalnum() or name[0].isdigit():
            raise ConfigError(
                f"{path}, line {number}: expected NAME=value, got {raw.strip()[:60]!r}. "
                "Fix the line or remove the file."
            )
        values[name] = _unquote(value.strip(), path, number)
    return values


def _unquote(value: str, path: Path, number: int) -> str:
    if value[:1] in {'"', "'"}:
        quote = value[0]
        if len(value) < 2 or not value.endswith(quote):
            raise ConfigError(f"{path}, line {number}: unterminated {quote} quote.")
        return value[1:-1]
    return value.split(" #", 1)[0].strip()


class EnvReader:
    """Typed access to configuration variables with uniform error messages."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> EnvReader:
        """Merge ``.env`` (if present) under the process environment."""
        env = dict(os.environ if environ is None else environ)
        env_file = Path(env.get("THREADLINE_ENV_FILE", ".env"))
        merged = parse_env_file(env_file) if env_file.is_file() else {}
        if "THREADLINE_ENV_FILE" in env and not env_file.is_file():
            raise ConfigError(f"THREADLINE_ENV_FILE={env_file} does not exist.")
        merged.update(env)
        return cls(merged)

    def raw(self, name: str) -> str | None:
        value = self._values.get(name)
        return value if value is None or value.strip() else None

    def is_set(self, name: str) -> bool:
        return self.raw(name) is not None

    def text(self, name: str, default: str = "") -> str:
        value = self.raw(name)
        return default if value is None else value.strip()

    def secret(self, name: str) -> Secret:
        """A secret sent in HTTP headers: printable ASCII without spaces, or unset."""
        value = self.text(name)
        if value and not _is_header_token(value):
            raise ConfigError(
                f"{name}=(hidden) is not valid: it contains spaces, control or non-ASCII "
                "characters (a stray character from copying?); paste the value again."
            )
        return Secret(value)

    def convert(self, name: str, default: T, parse: Callable[[str], T], accepted: str) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse(value.strip())
        except (ValueError, TypeError):
            raise ConfigError(_bad(name, value, accepted)) from None

    def integer(self, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
        accepted = f"a whole number ≥ {low}" + (f" and ≤ {high}" if high is not None else "")
        return self.convert(name, default, _ranged(int, low, high), accepted)

    def number(
        self, name: str, default: float, *, low: float = 0.0, high: float | None = None
    ) -> float:
        accepted = f"a number ≥ {low:g}" + (f" and ≤ {high:g}" if high is not None else "")
        return self.convert(name, default, _ranged(float, low, high), accepted)

    def flag(self, name: str, default: bool) -> bool:
        return self.convert(name, default, _parse_bool, "true/false, yes/no, on/off or 1/0")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        def parse(text: str) -> str:
            if text.lower() not in choices:
                raise ValueError
            return text.lower()

        return self.convert(name, default, parse, " or ".join(choices))

    def items(self, name: str) -> tuple[str, ...]:
        value = self.text(name)
        return tuple(item.strip() for item in value.split(",") if item.strip())

    def url(self, name: str, default: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
        """An absolute URL with one of ``schemes``, a host and a valid port (see ``check_url``)."""

        def parse(text: str) -> str:
            return check_url(text, schemes).rstrip("/")

        accepted = " or ".join(f"{scheme}://" for scheme in schemes) + " URL with a host"
        example = f", e.g. {default}" if default else ""
        return self.convert(name, default, parse, f"an {accepted}{example}")


def check_url(text: str, schemes: tuple[str, ...]) -> str:
    """``text`` if it is a URL a client can connect to; ``ValueError`` otherwise.

    Decided: the scheme must be one of ``schemes``; the host must be present and valid IDNA;
    an explicit port must be 1 to 65535; no spaces, control or other unprintable characters.
    """
    if not text.isprintable() or any(ch.isspace() for ch in text):
        raise ValueError("unprintable characters")
    parts = urlsplit(text)
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise ValueError("scheme or host missing")
    port = parts.port  # ValueError when it is not a number from 0 to 65535
    if port == 0:
        raise ValueError("port 0")
    parts.hostname.encode("idna")  # UnicodeError (a ValueError) for an impossible host name
    return text


def _is_header_token(value: str) -> bool:
    return value.isascii() and value.isprintable() and not any(ch.isspace() for ch in value)


def _bad(name: str, value: str, accepted: str) -> str:
    secret = name.rpartition("_")[2] in SECRET_NAMES
    shown = "(hidden)" if secret else repr(value[:80])
    return f"{name}={shown} is not valid: expected {accepted}."


def _ranged(kind: Callable[[str], Any], low: Any, high: Any) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError
        if value < low or (high is not None and value > high):
            raise ValueError
        return value

    return parse


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError


@dataclass(frozen=True, slots=True)
class LLMSettings:
    """The completions endpoint and the global generation defaults."""

    base_url: str
    api_key: Secret
    defaults: GenerationParams
    system_prompt: str
    context_tokens: int
    model_context: dict[str, int]
    connect_timeout: float
    first_token_timeout: float
    idle_timeout: float
    max_retries: int
    user_hash_salt: Secret
    max_completion_tokens_models: tuple[str, ...] = DEFAULT_COMPLETION_TOKEN_MODELS
    """``LLM_MAX_COMPLETION_TOKENS_MODELS``: globs of models sent ``max_completion_tokens``."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the core needs, validated."""

    llm: LLMSettings
    database_url: str
    data_dir: Path
    max_concurrent_generations: int
    queue_mode: str
    retention_days: int
    lease_seconds: float
    controls_open: bool
    log_level: str
    log_format: str
    metrics_host: str
    metrics_port: int
    env: EnvReader = field(repr=False)
    governance: GovernanceConfig = field(default_factory=GovernanceConfig)
    redactor: Redactor | None = None
    """``REDACT`` / ``REDACT_PATTERNS`` (``bot.redact``); None when nothing is redacted."""
    moderation: ModerationSettings | None = None
    """``MODERATION_*`` (``bot.moderation``); None without ``MODERATION_URL``."""
    files: FilePolicy = field(default_factory=FilePolicy)
    """``FILE_*`` limits and ``LLM_VISION_MODELS`` (``bot.files``)."""

    def model_context(self, model: str) -> int:
        """Context window (tokens) configured for ``model``, else the global default."""
        return self.llm.model_context.get(model, self.llm.context_tokens)


def _generation_defaults(env: EnvReader) -> GenerationParams:
    params = GenerationParams(model=env.text("LLM_MODEL", DEFAULT_MODEL), max_tokens=1024)
    overrides: dict[str, Any] = {}
    for name in SPECS:
        var = f"LLM_{name.upper()}"
        raw = env.raw(var)
        if raw is None or name == "model":
            continue
        try:
            overrides[name] = parse_value(name, raw)
        except SettingError as exc:
            raise ConfigError(f"{var}: {exc}") from None
    return params.merged(overrides)


def _model_context(env: EnvReader) -> dict[str, int]:
    def parse(text: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in text.split(","):
            model, _, size = item.strip().rpartition("=")
            if not model or int(size) < 256:
                raise ValueError
            out[model.strip()] = int(size)
        return out

    return env.convert("LLM_MODEL_CONTEXT", {}, parse, "model=tokens pairs, e.g. 'gpt-4o=128000'")


def _model_globs(env: EnvReader, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma list of model names or globs (``none``: no model); no spaces inside a name."""

    def parse(text: str) -> tuple[str, ...]:
        if text.lower() == "none":
            return ()
        globs = tuple(item.strip() for item in text.split(",") if item.strip())
        if not globs or not all(_is_header_token(g) and len(g) <= 200 for g in globs):
            raise ValueError
        return globs

    accepted = "a comma list of model names or globs, e.g. 'o1*,gpt-5*', or 'none'"
    return env.convert(name, default, parse, accepted)


def _database_url(env: EnvReader, data_dir: Path) -> str:
    """``DATABASE_URL`` (default: SQLite in the data dir), refused at start when unusable.

    Checked here: SQLAlchemy can parse it, the scheme is SQLite or PostgreSQL, an explicit
    port is 1 to 65535. A password in the URL is never shown.
    """
    text = env.text("DATABASE_URL", f"sqlite+aiosqlite:///{data_dir / 'threadline.db'}")
    accepted = "sqlite:///path/to/threadline.db or postgresql://user:password@host:5432/dbname"
    try:
        url = make_url(text)
        shown = repr(url.render_as_string(hide_password=True))
        valid = url.drivername.lower() in DATABASE_DRIVERS and (url.port or 1) in range(1, 65536)
    except (ArgumentError, ValueError):
        shown, valid = ("(hidden)" if "@" in text else repr(text[:80])), False
    if not valid:
        raise ConfigError(f"DATABASE_URL={shown} is not valid: expected {accepted}.")
    return text


def default_data_dir(env: EnvReader) -> Path:
    """``THREADLINE_DATA_DIR``, else ``$XDG_DATA_HOME/threadline``, else ``~/.local/share``."""
    explicit = env.text("THREADLINE_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = env.text("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "threadline"


def load_settings(env: EnvReader) -> Settings:
    """Validate every core variable; raise ``ConfigError`` on the first bad one."""
    data_dir = default_data_dir(env)
    llm = LLMSettings(
        base_url=env.url("LLM_BASE_URL", DEFAULT_BASE_URL),
        api_key=env.secret("LLM_API_KEY"),
        defaults=_generation_defaults(env),
        system_prompt=env.text("LLM_SYSTEM_PROMPT", DEFAULT_SYSTEM_PROMPT),
        context_tokens=env.integer("LLM_CONTEXT_TOKENS", 32768, low=256),
        model_context=_model_context(env),
        connect_timeout=env.number("LLM_CONNECT_TIMEOUT", 10.0, low=0.1, high=MAX_TIMEOUT),
        first_token_timeout=env.number("LLM_FIRST_TOKEN_TIMEOUT", 90.0, low=0.1, high=MAX_TIMEOUT),
        idle_timeout=env.number("LLM_IDLE_TIMEOUT", 60.0, low=0.1, high=MAX_TIMEOUT),
        max_retries=env.integer("LLM_MAX_RETRIES", 2, low=0, high=10),
        user_hash_salt=Secret(env.text("USER_HASH_SALT") or env.text("LLM_API_KEY")),
        max_completion_tokens_models=_model_globs(
            env, "LLM_MAX_COMPLETION_TOKENS_MODELS", DEFAULT_COMPLETION_TOKEN_MODELS
        ),
    )
    _check_max_tokens(env, llm)
    return Settings(
        llm=llm,
        database_url=_database_url(env, data_dir),
        data_dir=data_dir,
        max_concurrent_generations=env.integer("MAX_CONCURRENT_GENERATIONS", 32, low=1),
        queue_mode=env.choice("QUEUE_MODE", "queue", ("queue", "supersede")),
        retention_days=env.integer("HISTORY_RETENTION_DAYS", 0, low=0, high=MAX_DAYS),
        lease_seconds=env.number("ANSWER_LEASE_SECONDS", 30.0, low=1.0, high=3600.0),
        controls_open=env.choice("ANSWER_CONTROLS", "asker", ("asker", "everyone")) == "everyone",
        log_level=env.choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")),
        log_format=env.choice("LOG_FORMAT", "text", ("text", "json")),
        metrics_host=env.text("METRICS_HOST", "0.0.0.0"),
        metrics_port=env.integer("METRICS_PORT", 0, low=0, high=65535),
        env=env,
        governance=load_governance(env),
        redactor=load_redaction(env),
        moderation=load_moderation(env),
        files=load_file_policy(env),
    )


def _check_max_tokens(env: EnvReader, llm: LLMSettings) -> None:
    """Refuse a ``max_tokens`` that leaves the default model no room for a prompt."""
    model = llm.defaults.model
    context = llm.model_context.get(model, llm.context_tokens)
    problem = max_tokens_problem(llm.defaults, context)
    if not problem:
        return
    source = "LLM_MODEL_CONTEXT" if model in llm.model_context else "LLM_CONTEXT_TOKENS"
    if env.is_set("LLM_MAX_TOKENS"):
        shown = f"LLM_MAX_TOKENS={env.text('LLM_MAX_TOKENS')!r}"
    else:
        shown = f"{source} (with the default LLM_MAX_TOKENS of {DEFAULT_MAX_TOKENS})"
    raise ConfigError(
        f"{shown} is not valid: {problem}. Lower LLM_MAX_TOKENS, or set the model's real "
        f"context window with {source}."
    )


def require_api_key(settings: Settings) -> None:
    """Commands that call the model need a key; say so in one line if it is missing."""
    if not settings.llm.api_key:
        raise ConfigError(
            "LLM_API_KEY is not set: set it to your endpoint's API key "
            f"(for {settings.llm.base_url}), in the environment or in .env."
        )
