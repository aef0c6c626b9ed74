"""Report charts as PNG bytes, drawn with matplotlib's Agg canvas (no display, no browser).

`matplotlib.figure.Figure` with its own Agg canvas keeps no global pyplot state, so charts can be
drawn from threads and worker processes. The PNG carries no software/date metadata, so the same
data gives the same bytes. Colours are the dashboard's (core/palette.py).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from core.palette import MUTED, PALETTE

INK = "#0f172a"
GOOD, BAD = "#15803d", "#b91c1c"
# Red is weak, green is strong, as the portfolio heatmap on the dashboard.
HEAT = LinearSegmentedColormap.from_list("dc", [(0.0, BAD), (0.25, "#f97316"), (0.5, "#fde68a"), (0.75, "#4ade80"),
                                              (1.0, GOOD)])
DPI = 150


def _figure(width_in: float, height_in: float) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.set_layout_engine("constrained")
    return fig


def _style(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.spines[["left", "bottom"]].set_color("#cbd5e1")
    ax.tick_params(colors="#334155", labelsize=8)
    ax.grid(axis="y", color="#e2e8f0", linewidth=0.6)
    ax.set_axisbelow(True)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def trend(frame: pd.DataFrame, *, emphasis: str | None = None, muted: str | None = None,
          y_label: str = "DC score") -> bytes:
    """Lines for a period × series frame; `emphasis` drawn thick and dark, `muted` dotted grey."""
    fig = _figure(7.2, 3.2)
    ax = fig.add_subplot()
    colors = iter(PALETTE)
    for name in frame.columns:
        series = frame[name].dropna()
        if name == emphasis:
            style = {"color": INK, "linewidth": 2.6}
        elif name == muted:
            style = {"color": MUTED, "linewidth": 1.6, "linestyle": ":"}
        else:
            style = {"color": next(colors, MUTED), "linewidth": 1.4}
        ax.plot(pd.to_datetime(series.index), series.to_numpy(), label=str(name), **style)
    ax.set_ylim(0, 100)
    ax.set_ylabel(y_label, fontsize=8)
    _style(ax)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def heatmap(matrix: pd.DataFrame, bold_rows: set[str] | frozenset[str] = frozenset()) -> bytes:
    """Brand × section scores on the 0–100 scale, values printed in the cells."""
    rows, cols = matrix.shape
    fig = _figure(7.2, max(1.8, 0.6 + 0.24 * rows))
    ax = fig.add_subplot()
    values = matrix.to_numpy(dtype=float)
    image = ax.imshow(values, cmap=HEAT, vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(cols), [str(c) for c in matrix.columns], fontsize=8)
    ax.set_yticks(range(rows), [str(r) for r in matrix.index], fontsize=7)
    for label in ax.get_yticklabels():
        if label.get_text() in bold_rows:
            label.set_fontweight("bold")
    for (i, j), v in np.ndenumerate(values):
        if v == v:
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=6.5,
                    color="white" if v < 20 or v > 85 else INK)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.colorbar(image, ax=ax, shrink=0.8, label="score").ax.tick_params(labelsize=7)
    return _png(fig)


def grouped_bars(categories: list[str], series: dict[str, list[float]], *, y_label: str = "",
                 y_max: float | None = None, annotate: list[str] | None = None,
                 colors: list[str] | None = None) -> bytes:
    """Side-by-side bars per category (e.g. own vs competitors per section, current vs optimized)."""
    fig = _figure(7.2, 3.0)
    ax = fig.add_subplot()
    n = max(len(series), 1)
    width = 0.8 / n
    x = np.arange(len(categories))
    colors = colors or ([PALETTE[0], MUTED] if n == 2 else PALETTE)
    for k, (name, values) in enumerate(series.items()):
        ax.bar(x + (k - (n - 1) / 2) * width, np.asarray(values, dtype=float), width, label=name,
               color=colors[k % len(colors)])
    if annotate:
        top = ax.get_ylim()[1] if y_max is None else y_max
        for i, text in enumerate(annotate):
            ax.text(i, top * 0.97, text, ha="center", va="top", fontsize=7.5,
                    color=BAD if text.startswith(("−", "-")) else GOOD)
    ax.set_xticks(x, categories, fontsize=8, rotation=0 if len(categories) <= 6 else 30,
                  ha="center" if len(categories) <= 6 else "right")
    if y_max is not None:
        ax.set_ylim(0, y_max)
    ax.set_ylabel(y_label, fontsize=8)
    _style(ax)
    ax.yaxis.set_major_formatter(lambda v, _pos: short(v))
    ax.legend(fontsize=7, frameon=False, ncols=min(n, 4), loc="lower left", bbox_to_anchor=(0, 1.0))
    return _png(fig)


def signed_bars(labels: list[str], values: list[float], *, x_label: str = "") -> bytes:
    """Horizontal bars around zero, green for gains and red for losses, largest on top."""
    fig = _figure(7.2, max(1.6, 0.5 + 0.26 * len(labels)))
    ax = fig.add_subplot()
    data = np.asarray(values, dtype=float)
    y = np.arange(len(labels))[::-1]
    ax.barh(y, data, color=[GOOD if v >= 0 else BAD for v in data], height=0.65)
    ax.set_yticks(y, labels, fontsize=7.5)
    ax.axvline(0, color="#64748b", linewidth=0.8)
    for yi, v in zip(y, data, strict=True):
        ax.text(v, yi, f" {v:+.2f} ".replace("-", "−"), va="center", ha="left" if v >= 0 else "right", fontsize=6.5)
    ax.set_xlabel(x_label, fontsize=8)
    _style(ax)
    ax.grid(axis="x", color="#e2e8f0", linewidth=0.6)
    ax.grid(axis="y", visible=False)
    low, high = min(data.min(initial=0), 0), max(data.max(initial=0), 0)
    pad = (high - low) * 0.18 or 1.0
    ax.set_xlim(low - (pad if low < 0 else 0), high + (pad if high > 0 else 0))
    return _png(fig)


def intervals(labels: list[str], points: list[float | None], lows: list[float | None],
              highs: list[float | None], *, y_label: str = "") -> bytes:
    """Point estimates as bars with their interval as error bars (missing intervals drawn without)."""
    fig = _figure(5.0, 2.8)
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    mid = np.array([np.nan if p is None else p for p in points], dtype=float)
    ax.bar(x, mid, 0.55, color=[MUTED, PALETTE[0], *PALETTE[1:]][: len(labels)])
    for i, (p, lo, hi) in enumerate(zip(mid, lows, highs, strict=True)):
        if lo is not None and hi is not None and p == p:
            ax.errorbar(i, p, yerr=[[p - lo], [hi - p]], color=INK, capsize=6, linewidth=1.2)
        if p == p:
            ax.text(i + 0.3, p, short(p), ha="left", va="center", fontsize=7.5, color=INK)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_xlim(-0.6, len(labels) - 0.1)
    ax.set_ylabel(y_label, fontsize=8)
    _style(ax)
    ax.yaxis.set_major_formatter(lambda v, _pos: short(v))
    return _png(fig)


def short(value: float) -> str:
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= limit:
            return f"{value / limit:.3g} {suffix}"
    return f"{value:.3g}"
