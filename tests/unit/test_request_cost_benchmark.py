"""The request-cost benchmark's arithmetic: what it reports per request and per page."""

from __future__ import annotations

from benchmarks.request_cost import _summary


def test_figures_are_per_request_and_per_page() -> None:
    samples = [("brand chart", 0.010, 2), ("brand chart", 0.030, 0), ("portfolio GET /", 0.002, 1)]
    summary = _summary(samples)
    assert summary["all"] == {"requests": 3, "cpu_ms_per_request": 14.0, "cpu_ms_p95": 30.0, "sql_per_request": 1.0}
    assert summary["pages"]["brand"]["cpu_ms_per_request"] == 20.0
    assert summary["pages"]["brand"]["sql_per_request"] == 1.0
    assert summary["pages"]["portfolio"] == {
        "requests": 1,
        "cpu_ms_per_request": 2.0,
        "cpu_ms_p95": 2.0,
        "sql_per_request": 1.0,
    }
