from __future__ import annotations

import httpx

from bot.ops import render_metrics, serve_ops


async def test_health_and_metrics_endpoint():
    healthy = {"value": True}

    async def probe():
        return healthy["value"]

    def stats():
        return {"generations_active": 3, "answers_complete_total": 7}

    async with (
        serve_ops("127.0.0.1", 0, stats, probe) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
        assert "threadline_generations_active 3" in metrics.text
        assert "# TYPE threadline_answers_complete_total counter" in metrics.text
        assert (await http.get("/healthz")).status_code == 200
        healthy["value"] = False
        assert (await http.get("/healthz")).status_code == 503
        assert (await http.get("/nope")).status_code == 404
        assert (await http.post("/metrics")).status_code == 405


def test_metrics_text_marks_gauges_and_counters():
    text = render_metrics({"a_total": 1, "b": 2.5})
    assert text.splitlines() == [
        "# TYPE threadline_a_total counter",
        "threadline_a_total 1",
        "# TYPE threadline_b gauge",
        "threadline_b 2.5",
    ]
