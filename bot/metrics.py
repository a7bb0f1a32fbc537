"""Prometheus metrics of one process: the instruments, on one injected registry.

Decisions:

- The composition root builds one ``CollectorRegistry`` per process and one ``Metrics`` on it,
  hands it to the engine, the completions client and (through ``AdapterContext``) the adapters,
  and serves it on ``/metrics`` (``bot.ops``). prometheus-client's global default registry is
  never used and nothing happens at import, so tests build their own.
- Observations are per answer, per model request and per platform call, never per streamed
  delta: the engine hands over an answer's timings once it is stored, and the gauges are read
  from the engine's own counts only when Prometheus scrapes.
- Label values are bounded: platform, outcome, error class, an API method or route template
  (the first ``METHOD_CAP`` distinct, then ``other``) and the model name (the first
  ``MODEL_CAP`` distinct, then ``other``). No user, channel or workspace ids.
- ``Metrics.off()`` (``NullMetrics``) records nothing: the default for code and tests that do
  not care.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from yarl import URL

MODEL_CAP = 50
METHOD_CAP = 200
OTHER = "other"
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0, 120.0, 300.0)
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 30.0)
QUEUE_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)

RouteName = Callable[[str, URL], str | None]
"""An adapter's name for an HTTP request (method, URL): the API method or route template, or
None for a request that is not a platform API call (a file download, a websocket)."""


class CappedLabel:
    """Passes the first ``cap`` distinct values through, then answers ``other``."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) >= self._cap:
                return OTHER
            self._seen.add(value)
        return value


class Metrics:
    """The registry and every instrument Threadline records (see the module doc)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._models = CappedLabel(MODEL_CAP)
        self._methods = CappedLabel(METHOD_CAP)
        self._build_histograms(registry)
        self._build_counters(registry)
        self._live = Gauge("threadline_live_streams", "Answers streaming now", registry=registry)
        self._queued = Gauge(
            "threadline_queued_questions", "Questions waiting for their turn", registry=registry
        )
        self._leases = Gauge(
            "threadline_leases_held",
            "Owed answers this process holds a lease on (waiting or being answered)",
            registry=registry,
        )

    @staticmethod
    def off() -> Metrics:
        """Metrics that record nothing."""
        return NullMetrics()

    def _build_histograms(self, registry: CollectorRegistry) -> None:
        self._first_token = Histogram(
            "threadline_llm_time_to_first_token_seconds",
            "Model request sent (first attempt) to its first streamed event",
            buckets=FIRST_TOKEN_BUCKETS,
            registry=registry,
        )
        self._llm_duration = Histogram(
            "threadline_llm_request_duration_seconds",
            "Model request sent (first attempt) to the end of its stream",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._queue_wait = Histogram(
            "threadline_queue_wait_seconds",
            "Question accepted to the start of its answer's turn",
            ["platform"],
            buckets=QUEUE_BUCKETS,
            registry=registry,
        )
        self._first_text = Histogram(
            "threadline_event_to_first_text_seconds",
            "Platform event to the first answer text handed to the reply",
            ["platform"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._final = Histogram(
            "threadline_event_to_final_seconds",
            "Platform event to the answer's final state, shown and stored",
            ["platform"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def _build_counters(self, registry: CollectorRegistry) -> None:
        self._answers = Counter(
            "threadline_answers", "Answers by outcome", ["platform", "outcome"], registry=registry
        )
        self._calls = Counter(
            "threadline_platform_calls",
            "Platform API requests by method (Slack) or route (Discord)",
            ["platform", "method"],
            registry=registry,
        )
        self._rate_limited = Counter(
            "threadline_platform_rate_limited",
            "Platform API requests answered 429",
            ["platform", "method"],
            registry=registry,
        )
        self._llm_errors = Counter(
            "threadline_llm_errors",
            "Failed model requests (each attempt) by error class",
            ["error"],
            registry=registry,
        )
        self._tokens = Counter(
            "threadline_llm_tokens",
            "Model tokens by model and direction; estimated=true where the endpoint reported none",
            ["model", "direction", "estimated"],
            registry=registry,
        )

    # -- gauges ---------------------------------------------------------------------------

    def watch(
        self,
        *,
        live_streams: Callable[[], float],
        queued: Callable[[], float],
        leases: Callable[[], float],
    ) -> None:
        """Read the gauges from these functions at every scrape (nothing on the hot path)."""
        self._live.set_function(live_streams)
        self._queued.set_function(queued)
        self._leases.set_function(leases)

    # -- answers --------------------------------------------------------------------------

    def answer_finished(self, platform: str, outcome: str) -> None:
        self._answers.labels(platform, outcome).inc()

    def queue_waited(self, platform: str, seconds: float) -> None:
        self._queue_wait.labels(platform).observe(seconds)

    def answer_timed(self, platform: str, first_text: float | None, final: float) -> None:
        """An answer's event → first text (None: it showed none) and event → final seconds."""
        if first_text is not None:
            self._first_text.labels(platform).observe(first_text)
        self._final.labels(platform).observe(final)

    # -- the model ------------------------------------------------------------------------

    def llm_first_token(self, seconds: float) -> None:
        self._first_token.observe(seconds)

    def llm_request(self, seconds: float) -> None:
        self._llm_duration.observe(seconds)

    def llm_error(self, error: BaseException) -> None:
        self._llm_errors.labels(type(error).__name__).inc()

    def tokens(self, model: str, prompt: int, completion: int, *, estimated: bool) -> None:
        name = self._models(model)
        flag = "true" if estimated else "false"
        self._tokens.labels(name, "input", flag).inc(max(0, prompt))
        self._tokens.labels(name, "output", flag).inc(max(0, completion))

    # -- platform calls -------------------------------------------------------------------

    def platform_call(self, platform: str, method: str, status: int) -> None:
        """One API request and its HTTP status (0: no response)."""
        name = self._methods(method)
        self._calls.labels(platform, name).inc()
        if status == 429:
            self._rate_limited.labels(platform, name).inc()

    def http_trace(self, platform: str, name_of: RouteName) -> aiohttp.TraceConfig:
        """An aiohttp trace that counts every request of a session as ``platform_call``: one
        place sees every call the platform library makes (retried 429s included), whatever
        code path made it."""
        trace = aiohttp.TraceConfig()

        async def ended(
            session: aiohttp.ClientSession,
            context: object,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            name = name_of(params.method, params.url)
            if name is not None:
                self.platform_call(platform, name, params.response.status)

        async def failed(
            session: aiohttp.ClientSession,
            context: object,
            params: aiohttp.TraceRequestExceptionParams,
        ) -> None:
            name = name_of(params.method, params.url)
            if name is not None:
                self.platform_call(platform, name, 0)

        trace.on_request_end.append(ended)
        trace.on_request_exception.append(failed)
        return trace


class NullMetrics(Metrics):
    """Records nothing (``Metrics.off()``); its registry stays empty."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()

    def watch(
        self,
        *,
        live_streams: Callable[[], float],
        queued: Callable[[], float],
        leases: Callable[[], float],
    ) -> None:
        return None

    def answer_finished(self, platform: str, outcome: str) -> None:
        return None

    def queue_waited(self, platform: str, seconds: float) -> None:
        return None

    def answer_timed(self, platform: str, first_text: float | None, final: float) -> None:
        return None

    def llm_first_token(self, seconds: float) -> None:
        return None

    def llm_request(self, seconds: float) -> None:
        return None

    def llm_error(self, error: BaseException) -> None:
        return None

    def tokens(self, model: str, prompt: int, completion: int, *, estimated: bool) -> None:
        return None

    def platform_call(self, platform: str, method: str, status: int) -> None:
        return None


__all__ = ["CappedLabel", "Metrics", "NullMetrics", "RouteName"]
