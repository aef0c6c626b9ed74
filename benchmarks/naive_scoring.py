"""A straightforward per-row Python DC score: the baseline for the benchmark and a test oracle.

Written the way a first implementation loops: dictionaries keyed by tuples, one pass over the
rows per step. Same definitions as core.scoring.engine (min–max with direction, parity 50 on a
zero range, weights renormalized over present items, coverage against what the project reports).
"""

from __future__ import annotations

from collections import defaultdict


def naive_scores(rows, metrics: dict, platform_weights: dict, section_weights: dict | None = None) -> list[tuple]:
    """rows: iterable of (project_id, period, brand_id, metric_id, value).

    metrics: metric_id → (platform_id, section_id, weight, direction);
    section_weights: (project_id, section_id) → weight (default 1).
    Returns (project_id, period, brand_id, level, node_id, score, coverage) tuples.
    """
    section_weights = section_weights or {}
    rows = list(rows)
    lo: dict = {}
    hi: dict = {}
    for project, period, _brand, metric, value in rows:
        key = (project, period, metric)
        if key not in lo or value < lo[key]:
            lo[key] = value
        if key not in hi or value > hi[key]:
            hi[key] = value

    platform_acc: dict = defaultdict(lambda: [0.0, 0.0])  # (p, t, b, platform) → [Σ w·n, Σ w]
    expected_metric: dict = defaultdict(float)  # (p, t, platform) → Σ expected metric weights
    seen_metric: set = set()
    for project, period, brand, metric, value in rows:
        platform, _section, weight, direction = metrics[metric]
        key = (project, period, metric)
        span = hi[key] - lo[key]
        norm = (value - lo[key]) / span * 100.0 if span > 0 else 50.0
        if direction == "lower":
            norm = 100.0 - norm
        acc = platform_acc[(project, period, brand, platform)]
        acc[0] += weight * norm
        acc[1] += weight
        if key not in seen_metric:
            seen_metric.add(key)
            expected_metric[(project, period, platform)] += weight

    platform_section = {m[0]: m[1] for m in metrics.values()}
    out: list[tuple] = []
    section_acc: dict = defaultdict(lambda: [0.0, 0.0, 0.0])  # (p, t, b, section) → [Σ w·s, Σ w, Σ w·cov]
    expected_platform: dict = defaultdict(float)
    seen_platform: set = set()
    for (project, period, brand, platform), (wn, w) in platform_acc.items():
        score, coverage = wn / w, w / expected_metric[(project, period, platform)]
        out.append((project, period, brand, "platform", platform, score, coverage))
        section = platform_section[platform]
        pw = platform_weights.get(platform, 1.0)
        acc = section_acc[(project, period, brand, section)]
        acc[0] += pw * score
        acc[1] += pw
        acc[2] += pw * coverage
        if (project, period, platform) not in seen_platform:
            seen_platform.add((project, period, platform))
            expected_platform[(project, period, section)] += pw

    total_acc: dict = defaultdict(lambda: [0.0, 0.0, 0.0])
    expected_section: dict = defaultdict(float)
    seen_section: set = set()
    for (project, period, brand, section), (ws, w, wc) in section_acc.items():
        score, coverage = ws / w, wc / expected_platform[(project, period, section)]
        out.append((project, period, brand, "section", section, score, coverage))
        sw = section_weights.get((project, section), 1.0)
        acc = total_acc[(project, period, brand)]
        acc[0] += sw * score
        acc[1] += sw
        acc[2] += sw * coverage
        if (project, period, section) not in seen_section:
            seen_section.add((project, period, section))
            expected_section[(project, period)] += sw

    for (project, period, brand), (ws, w, wc) in total_acc.items():
        out.append((project, period, brand, "total", 0, ws / w, min(wc / expected_section[(project, period)], 1.0)))
    return out
