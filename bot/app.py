"""The composition root: the one place that knows every concrete class.

Resources are built in nested ``async with`` blocks and injected through constructors:
database (migrated first) → HTTP client → completions client → engine → adapters. Adapters are
imported lazily from ``ADAPTERS`` so an optional dependency only matters when it is used.
Shutdown (SIGINT/SIGTERM) takes no new work, lets live answers finish for a few seconds and
ends the rest with a restart notice while the platform connections are still open, leaves
queued answers to the next process (their leases released), then lets every adapter close.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client import CollectorRegistry

from bot.adapter import Adapter, AdapterContext
from bot.config import LLMSettings, Settings
from bot.engine import ConversationEngine, EngineConfig
from bot.errors import ConfigError
from bot.llm.accepted import AcceptedParams
from bot.llm.client import ChatCompletionsClient, LLMTimeouts, build_http_client
from bot.metrics import Metrics
from bot.moderation import Moderator, moderation_client
from bot.ops import Readiness, serve_ops
from bot.reply.factory import ReplyFactory
from bot.store.base import ConversationStore
from bot.store.sql import open_store

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AdapterEntry:
    """A platform adapter: the variable that turns it on and the module that builds it."""

    trigger: str
    module: str
    extra: str
    also: str = ""  # another variable that turns it on (Slack installed by OAuth)


ADAPTERS: dict[str, AdapterEntry] = {
    "slack": AdapterEntry("SLACK_BOT_TOKEN", "adapters.slack", "slack", also="SLACK_CLIENT_ID"),
    "discord": AdapterEntry("DISCORD_TOKEN", "adapters.discord", "discord"),
}
SHUTDOWN_GRACE_SECONDS = 15.0
FINISH_GRACE_SECONDS = 8.0
"""At SIGTERM live answers may finish for this long before they end with a restart notice."""
MAINTENANCE_INTERVAL_SECONDS = 3600.0
EVENT_MEMORY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Core:
    """The platform-neutral services every front end shares."""

    engine: ConversationEngine
    store: ConversationStore
    replies: ReplyFactory
    metrics: Metrics
    """The process's one metrics registry and its instruments (``bot.metrics``)."""


@contextlib.asynccontextmanager
async def open_core(
    settings: Settings, *, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[Core]:
    """Migrate the database, then build store, completions client and engine.

    ``clock`` (tests: quota windows and their reset) is the store's and the engine's UTC clock.
    """
    llm = settings.llm
    async with (
        open_store(settings.database_url, migrate=True, clock=clock) as store,
        build_http_client(llm.base_url, llm.connect_timeout) as http,
    ):
        metrics = Metrics(CollectorRegistry())  # one registry per process, never the global one
        client = completions_client(http, llm, metrics)
        timed = {"clock": clock} if clock is not None else {}
        config = engine_config(settings, moderation_client(http, settings.moderation))
        engine = ConversationEngine(store, client, config, metrics=metrics, **timed)
        work = asyncio.create_task(engine.serve_work(), name="answer-leases")
        try:
            yield Core(engine, store, ReplyFactory.default(), metrics)
        finally:
            await engine.close()
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work


def completions_client(
    http: httpx.AsyncClient, llm: LLMSettings, metrics: Metrics | None = None
) -> ChatCompletionsClient:
    """The completions client for the configured endpoint, over ``http``, with its own memory
    of what each model accepts (``LLM_MAX_COMPLETION_TOKENS_MODELS``, then what endpoints say)."""
    return ChatCompletionsClient(
        http,
        api_key=llm.api_key.get(),
        timeouts=LLMTimeouts(llm.connect_timeout, llm.first_token_timeout, llm.idle_timeout),
        max_retries=llm.max_retries,
        metrics=metrics,
        accepted=AcceptedParams(llm.max_completion_tokens_models),
    )


def engine_config(settings: Settings, moderator: Moderator | None = None) -> EngineConfig:
    """The engine's share of the settings, with the moderation client (over the shared HTTP
    client) when ``MODERATION_URL`` is set."""
    return EngineConfig(
        defaults=settings.llm.defaults,
        system_prompt=settings.llm.system_prompt,
        context_tokens=settings.model_context,
        max_concurrent=settings.max_concurrent_generations,
        supersede=settings.queue_mode == "supersede",
        user_salt=settings.llm.user_hash_salt.get(),
        lease_seconds=settings.lease_seconds,
        single_process=settings.database_url.startswith("sqlite"),
        controls_open=settings.controls_open,
        governance=settings.governance,
        redactor=settings.redactor,
        moderator=moderator,
        files=settings.files,
    )


def configured_adapters(settings: Settings) -> list[str]:
    """Names of the adapters whose trigger variable is set."""
    env = settings.env
    return [
        name
        for name, entry in ADAPTERS.items()
        if env.is_set(entry.trigger) or (entry.also and env.is_set(entry.also))
    ]


def no_adapter_message() -> str:
    names = " or ".join(entry.trigger for entry in ADAPTERS.values())
    return (
        f"No platform is configured: set {names} (see README.md), "
        "or try the model in the terminal with `threadline console`."
    )


def load_adapter(name: str, context: AdapterContext) -> Adapter:
    """Import ``adapters.<name>`` and build its adapter; a missing extra is a ConfigError."""
    entry = ADAPTERS[name]
    try:
        module = importlib.import_module(entry.module)
    except ImportError as exc:
        raise ConfigError(
            f"The {name} adapter needs extra packages ({exc.name} is missing): "
            f"pip install 'threadline[{entry.extra}]'."
        ) from None
    adapter: Adapter = module.create(context)
    return adapter


async def serve(settings: Settings, names: list[str]) -> None:
    """Run the named adapters until a signal or one of them stops."""
    async with open_core(settings) as core:
        context = AdapterContext(
            core.engine, core.replies, settings.env, settings, core.store, metrics=core.metrics
        )
        adapters = [load_adapter(name, context) for name in names]
        stop = asyncio.Event()
        shutdown = asyncio.Event()
        _install_signal_handlers(shutdown)
        platforms = {adapter.name: adapter.connected for adapter in adapters}
        async with ops_endpoint(core, settings, platforms, shutdown.is_set):
            await _supervise(core, settings, adapters, stop, shutdown)


def ops_endpoint(
    core: Core,
    settings: Settings,
    platforms: Mapping[str, Callable[[], bool]] | None = None,
    stopping: Callable[[], bool] | None = None,
) -> contextlib.AbstractAsyncContextManager[object]:
    """``/healthz``, ``/readyz`` and ``/metrics`` (``bot.ops``) when ``METRICS_PORT`` is set, in
    every mode: ready while the database takes writes, each of ``platforms`` is connected and
    ``stopping`` is not true."""
    if not settings.metrics_port:
        return contextlib.nullcontext()
    readiness = Readiness(core.engine.healthy, dict(platforms or {}), stopping)
    return serve_ops(settings.metrics_host, settings.metrics_port, core.metrics.registry, readiness)


async def _supervise(
    core: Core,
    settings: Settings,
    adapters: list[Adapter],
    stop: asyncio.Event,
    shutdown: asyncio.Event,
) -> None:
    runs = {asyncio.create_task(a.run(stop), name=f"adapter-{a.name}") for a in adapters}
    upkeep = asyncio.create_task(_maintenance(core.store, settings.retention_days))
    signalled = asyncio.create_task(shutdown.wait())
    logger.info("Threadline is running: %s", ", ".join(a.name for a in adapters))
    await asyncio.wait({*runs, signalled}, return_when=asyncio.FIRST_COMPLETED)
    logger.info("shutting down")
    shutdown.set()  # /readyz answers 503 from here on, whatever started the shutdown
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(core.engine.close(FINISH_GRACE_SECONDS), SHUTDOWN_GRACE_SECONDS)
    stop.set()
    upkeep.cancel()
    signalled.cancel()
    finished, pending = await asyncio.wait(runs, timeout=SHUTDOWN_GRACE_SECONDS)
    for task in pending:
        task.cancel()
    _raise_first_failure(finished)


def _raise_first_failure(tasks: set[asyncio.Task[None]]) -> None:
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error


def _install_signal_handlers(shutdown: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, shutdown.set)


async def _maintenance(store: ConversationStore, retention_days: int) -> None:
    """Hourly: forget old event ids and, with a retention setting, purge old history."""
    while True:
        now = datetime.now(UTC)
        await store.purge_events_before(now - EVENT_MEMORY)
        if retention_days:
            purged = await store.purge_before(now - timedelta(days=retention_days))
            logger.info("retention: purged %d messages older than %d days", purged, retention_days)
        await asyncio.sleep(MAINTENANCE_INTERVAL_SECONDS)
