"""The ops server (aiohttp): liveness, readiness and the Prometheus exposition."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry, Counter

from bot.ops import Readiness, serve_ops


async def test_healthz_is_liveness_and_readyz_names_what_is_not_ready():
    state = {"db": True, "slack": True, "stopping": False}

    async def database():
        return state["db"]

    readiness = Readiness(
        database, {"slack": lambda: state["slack"]}, stopping=lambda: state["stopping"]
    )
    async with (
        serve_ops("127.0.0.1", 0, CollectorRegistry(), readiness) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        ready = await http.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"ready": True})

        state["db"] = False
        state["slack"] = False
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"ready": False, "not_ready": ["slack", "database"]}
        live = await http.get("/healthz")  # liveness never asks the database
        assert (live.status_code, live.json()) == (200, {"status": "ok"})

        state.update(db=True, slack=True, stopping=True)
        ready = await http.get("/readyz")
        assert (ready.status_code, ready.json()["not_ready"]) == (503, ["shutting down"])


async def test_metrics_serves_the_given_registry_only():
    registry = CollectorRegistry()
    answers = Counter("threadline_answers", "answers", ["outcome"], registry=registry)
    answers.labels("complete").inc(3)

    async def database():
        return True

    async with (
        serve_ops("127.0.0.1", 0, registry, Readiness(database)) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        assert 'threadline_answers_total{outcome="complete"} 3.0' in metrics.text
        assert "python_gc" not in metrics.text  # not prometheus-client's global registry
        assert (await http.get("/nope")).status_code == 404
        assert (await http.post("/metrics")).status_code == 405
        assert (await http.head("/healthz")).status_code == 200
