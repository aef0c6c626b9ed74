"""The portfolio page's charts and ranking grid: pure builders from `core.portfolio` read models.

Kept apart from the page so the page module holds only its layout and callbacks, and so a chart or
the grid's columns can be checked without a request or a database.
"""

from __future__ import annotations

import pandas as pd

from core.formatting import Units
from core.palette import COMPETITOR_LINE, OWN_LINE
from core.portfolio import section_matrix
from dashboard.components import MUTED, PALETTE, chart_layout, header_tip, signed, wrap
from dashboard.figures.common import figure

# Diverging around the middle of the 0–100 scale: red is weak, green is strong.
HEAT_SCALE = [[0.0, "#b91c1c"], [0.25, "#f97316"], [0.5, "#fde68a"], [0.75, "#4ade80"], [1.0, "#15803d"]]


def trend_figure(trend: pd.DataFrame) -> dict:
    """One line per brand: the own brands' average (id -1) bold in the first colour, own brands solid in the
    next ones, the competitor average (id 0) muted and dashed, so own and competitor differ in line style
    as well as colour (Okabe–Ito palette, core/palette.py)."""
    data = []
    colors = iter(PALETTE[1:])
    for brand_id, rows in trend.groupby("brand_id", sort=False):
        if brand_id == 0:
            line = {"dash": COMPETITOR_LINE, "color": MUTED, "width": 2}
        elif brand_id == -1:
            line = {"dash": OWN_LINE, "color": PALETTE[0], "width": 4}
        else:
            line = {"dash": OWN_LINE, "color": next(colors, MUTED), "width": 2}
        data.append({"type": "scatter", "x": rows["period"].tolist(), "y": rows["score"].round(1).to_numpy(),
                     "name": rows["brand"].iloc[0], "mode": "lines", "line": line})
    return figure(data, chart_layout(height=380, yaxis={"title": {"text": "DC score"}, "range": [0, 100]}))


def heatmap_figure(ranking: pd.DataFrame) -> dict:
    """Brands × sections, own brands in bold; customdata carries (brand id, role) for the click-through."""
    matrix = section_matrix(ranking)
    roles = ranking.set_index("brand")["role"].reindex(matrix.index)
    ids = ranking.set_index("brand")["brand_id"].reindex(matrix.index)
    labels = [f"<b>{name}</b>" if role == "own" else name for name, role in zip(matrix.index, roles, strict=True)]
    custom = [[[int(i), r]] * matrix.shape[1] for i, r in zip(ids, roles, strict=True)]
    heat = {
        "type": "heatmap", "z": matrix.to_numpy().round(1), "x": list(matrix.columns), "y": labels,
        "customdata": custom, "zmin": 0, "zmax": 100, "colorscale": HEAT_SCALE, "texttemplate": "%{z:.0f}",
        "textfont": {"size": 11}, "hovertemplate": "%{y}<br>%{x}: %{z:.1f}<extra></extra>", "xgap": 2, "ygap": 2,
        "colorbar": {"title": {"text": "score"}, "thickness": 10, "len": 0.8},
    }
    return figure([heat], chart_layout(height=max(260, 60 + 22 * len(matrix)), hovermode="closest",
                                       margin={"l": 10, "r": 10, "t": 10, "b": 40},
                                       yaxis={"autorange": "reversed", "automargin": True},
                                       xaxis={"side": "bottom", "automargin": True}))


def sections_figure(comparison: pd.DataFrame) -> dict:
    """Own brands against the competitor average per section, with the signed gap written above."""
    sections = [wrap(s, 12) for s in comparison["section"]]  # level labels on two lines, not rotated on a phone
    data = [{"type": "bar", "x": sections, "y": comparison[column].round(1).to_numpy(), "name": name,
             "marker": {"color": color}, "text": comparison[column].round(0).to_numpy(), "textposition": "outside"}
            for column, name, color in (("own", "Own brands", PALETTE[0]), ("competitor", "Competitor average", MUTED))]
    gaps = [signed(g) for g in comparison["gap"]]
    colors = ["#15803d" if g >= 0 else "#b91c1c" for g in comparison["gap"].fillna(0)]
    data.append({"type": "scatter", "x": sections, "y": [106] * len(comparison), "mode": "text", "text": gaps,
                 "textfont": {"color": colors}, "name": "gap", "hoverinfo": "skip", "showlegend": False})
    return figure(data, chart_layout(height=380, barmode="group", hovermode="x",
                                     yaxis={"title": {"text": "section score"}, "range": [0, 112]},
                                     xaxis={"tickangle": 0, "automargin": True}))


def ranking_grid(ranking: pd.DataFrame, sections: list[str], project_id: int,
                 units: Units | None = None) -> tuple[list[dict], list[dict]]:
    """AG Grid columns and rows of the ranking; own brands link to the brand explorer (markdown escaped).
    Money in the organization's currency (`units`), compact as the cards write it (₹462 M)."""
    units = units or Units()
    number = {"type": "rightAligned", "valueFormatter": {"function": "d3.format('.1f')(params.value)"}}
    signed_format = "params.value == null ? 'n/a' : d3.format('+.1f')(params.value)"
    change = {**number, "valueFormatter": {"function": signed_format},
              "cellClassRules": {"text-success": "params.value > 0.5", "text-danger": "params.value < -0.5"}}
    money = {"minWidth": 110, **units.grid_money(compact=True)}
    columns = [
        {"field": "rank", "headerName": "#", "width": 60, "minWidth": 56, "maxWidth": 80, "pinned": "left",
         "filter": False},
        {"field": "brand_link", "headerName": "Brand", "minWidth": 140, "pinned": "left", "cellRenderer": "markdown",
         "filterValueGetter": {"function": "params.data.brand"}},
        # The score next to the pinned brand, so a phone shows it without scrolling sideways.
        {"field": "score", "headerName": "DC score", **number, "minWidth": 96, **header_tip("dc_score")},
        {"field": "change_1m", "headerName": "Δ month", **change},
        {"field": "change_12m", "headerName": "Δ year", **change},
        {"field": "role", "headerName": "Role", "minWidth": 120,
         "valueFormatter": {"function": "params.value ? params.value[0].toUpperCase() + params.value.slice(1) : ''"}},
        {"field": "coverage", "headerName": "Coverage", "type": "rightAligned", "minWidth": 110,
         "valueFormatter": {"function": "d3.format('.0%')(params.value)"}},
        *({"field": s, "headerName": s, "minWidth": 140, **number} for s in sections),
        {"field": "spend", "headerName": units.label("Spend, 12 m"), **money, **header_tip("spend")},
        {"field": "revenue", "headerName": units.outcome_label(f"{units.outcome.capitalize()}, 12 m"),
         **(money if units.revenue else {"type": "rightAligned", "minWidth": 110}), **header_tip("outcome")},
        {"field": "roi", "headerName": "MER" if units.revenue else f"{units.outcome.capitalize()} per spend",
         "minWidth": 90, **units.grid_roas(), **header_tip("mer")},
    ]
    escaped = ranking["brand"].str.replace(r"([\\\[\]()*_`])", r"\\\1", regex=True)
    links = "[" + escaped + "](" + ranking["brand_id"].map(lambda b: brand_href(b, project_id)) + ")"
    frame = ranking.assign(brand_link=links.where(ranking["role"] == "own", escaped))
    data = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return columns, data


def brand_href(brand_id: int, project_id: int) -> str:
    """The brand explorer's address for one brand in one project."""
    return f"/brand?brand={int(brand_id)}&project={int(project_id)}"
