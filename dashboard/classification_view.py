"""How a page shows the data classification of what it draws (issue 17): a badge with the highest
level a chart, grid or page contains, and the sentence saying how many metrics were left out.

The levels and the counts come from `core.classified` (the same answers the reports print); this
module only draws them, so the brand, portfolio and scenario pages look alike.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from core.classification import Classification, parse
from core.classified import left_out, view_level
from core.security import Principal

# Bootstrap colours by level: quiet for public and internal, loud for the two that need clearance.
COLOURS = {"public": "light", "internal": "secondary", "confidential": "warning", "restricted": "danger"}


def level_badge(level: str | Classification, *, class_name: str = "") -> dbc.Badge:
    """A small badge naming a level ("Confidential"), titled for screen readers and hover."""
    level = parse(level)
    return dbc.Badge(level.label, color=COLOURS[level.value], pill=True,
                     text_color="dark" if level.value in ("public", "confidential") else None,
                     className=f"classification-badge classification-{level.value} {class_name}".strip(),
                     title=f"Data classification: the highest level shown here is {level.value}")


def view_badge_and_note(conn, principal: Principal, organization_id: int | None,
                        class_name: str = "") -> tuple[dbc.Badge, html.Div]:
    """The badge of a view over the organization's metric data, and its "n metrics left out" note."""
    note = left_out(conn, principal, organization_id).note()
    return (level_badge(view_level(conn, principal, organization_id), class_name=class_name),
            html.Div(note, className="small text-muted classification-note", hidden=not note))
