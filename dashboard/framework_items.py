"""The framework page's "Sections, platforms and metrics" card: add, rename, change and remove items.

The page holds no rules: every change goes to core.setup.framework (framework:manage checked there,
validated, audited, a new framework version, every month of every project recomputed). Removing an
item that holds imported values first says how many and deletes them only after an explicit
confirmation of that same item. A change bumps `framework-items-version`, which makes the page
reload its grids. The page module calls `register_callbacks()` (Dash executes page modules per app).
"""

from __future__ import annotations

from collections.abc import Callable

import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update

from core.classification import LEVELS, ClassificationError
from core.runtime import get_db
from core.security import Forbidden, Principal, can
from core.setup import framework as fw
from core.setup.classification import set_framework_level
from core.setup.framework_items import item_value, organization_of, parse_item, values_held
from core.setup.framework_rules import FrameworkError
from dashboard.access import protected_callback
from dashboard.auth.principal import current_principal

DIRECTIONS = [{"label": "Higher is better", "value": "higher"}, {"label": "Lower is better", "value": "lower"}]
RECOMPUTED = "Scores of every month of every project were recomputed."
HIDDEN = {"display": "none"}


def org_allowed(principal: Principal, organization_id) -> bool:
    try:
        return can(principal, fw.FRAMEWORK_MANAGE, ("organization", int(organization_id)))
    except (TypeError, ValueError):
        return False


def item_allowed(principal: Principal, item) -> bool:
    """An item of a framework the principal manages (the services check the organization again)."""
    organization_id = organization_of(get_db(), item)
    return organization_id is not None and org_allowed(principal, organization_id)


def _input(name: str, placeholder: str, **kwargs) -> dbc.Input:
    return dbc.Input(id=f"framework-{name}", placeholder=placeholder, size="sm", **kwargs)


def _weight(name: str) -> dbc.InputGroup:
    return dbc.InputGroup([dbc.InputGroupText("Weight"),
                           dbc.Input(id=f"framework-{name}", type="number", min=0, step="any", value=1)], size="sm")


def _heading(text: str) -> html.Div:
    return html.Div(text, className="fw-semibold small text-uppercase text-muted mt-2 mb-1")


def items_card() -> list:
    """The card body: three add forms, then one chosen item to rename, change or remove."""
    return [
        _heading("Add a section"),
        dbc.Row([dbc.Col(_input("new-section-name", "Section name", maxLength=120), md=7),
                 dbc.Col(_weight("new-section-weight"), md=3),
                 dbc.Col(dbc.Button("Add section", id="framework-add-section", size="sm", color="primary"), md=2)],
                className="g-2"),
        _heading("Add a platform"),
        dbc.Row([dbc.Col(dcc.Dropdown(id="framework-new-platform-section", placeholder="In section"), md=4),
                 dbc.Col(_input("new-platform-name", "Platform name", maxLength=120), md=3),
                 dbc.Col(_weight("new-platform-weight"), md=3),
                 dbc.Col(dbc.Button("Add platform", id="framework-add-platform", size="sm", color="primary"), md=2)],
                className="g-2"),
        _heading("Add a metric"),
        dbc.Row([dbc.Col(dcc.Dropdown(id="framework-new-metric-platform", placeholder="On platform"), md=4),
                 dbc.Col(_input("new-metric-code", "Code, e.g. amazon_reviews", maxLength=80), md=4),
                 dbc.Col(_input("new-metric-name", "Metric name", maxLength=120), md=4),
                 dbc.Col(_input("new-metric-unit", "Unit, e.g. %", maxLength=40), md=2),
                 dbc.Col(dcc.Dropdown(id="framework-new-metric-direction", options=DIRECTIONS, value="higher",
                                      clearable=False), md=3),
                 dbc.Col(_weight("new-metric-weight"), md=2),
                 dbc.Col(_input("new-metric-description", "What it measures", maxLength=500), md=5)],
                className="g-2"),
        html.Div(dbc.Button("Add metric", id="framework-add-metric", size="sm", color="primary"), className="mt-2"),
        html.Hr(),
        _heading("Change or remove"),
        dcc.Dropdown(id="framework-item", placeholder="Choose a section, platform or metric", className="mb-2"),
        dbc.Row([dbc.Col(_input("item-name", "Name", maxLength=120), md=4),
                 dbc.Col(_input("item-code", "Code (metrics)", maxLength=80), md=3),
                 dbc.Col(_input("item-unit", "Unit (metrics)", maxLength=40), md=2),
                 dbc.Col(dcc.Dropdown(id="framework-item-direction", options=DIRECTIONS, clearable=False,
                                      placeholder="Better (metrics)"), md=3),
                 dbc.Col(_input("item-description", "Description (metrics)", maxLength=500), md=12)],
                className="g-2"),
        html.Div([dbc.Button("Save changes", id="framework-item-save", size="sm", color="primary"),
                  dbc.Button("Remove…", id="framework-item-remove", size="sm", color="danger", outline=True)],
                 className="d-flex gap-2 mt-2"),
        html.Div([html.Div(id="framework-item-confirm-text", className="mb-2"),
                  dbc.Button("Yes, remove it and its values", id="framework-item-confirm", size="sm",
                             color="danger")],
                 id="framework-item-confirm-box", className="alert alert-warning mt-2 py-2", style=HIDDEN),
        # Data classification (issue 17): a section's level covers its metrics; platforms have none of their own.
        dbc.Row([dbc.Col(dcc.Dropdown(id="framework-item-level", placeholder="Classification", clearable=False,
                                      options=[{"label": level.capitalize(), "value": level} for level in LEVELS]),
                         md=4),
                 dbc.Col(dbc.Button("Set classification", id="framework-item-classify", size="sm",
                                    color="secondary"), md=4)], className="g-2 mt-1"),
        html.Div(id="framework-item-message", className="mt-2"),
        dcc.Store(id="framework-item-pending"),
        dcc.Store(id="framework-items-version", data=0),
    ]


def _message(text, color: str = "success", **kwargs) -> dbc.Alert:
    return dbc.Alert(text, color=color, className="py-2 mb-0", dismissable=True, **kwargs)


def _outcome(step: Callable[[], str], version) -> tuple:
    """(message, next version): a refusal changes nothing and says why."""
    try:
        text = step()
    except Forbidden:
        return _message("You are not allowed to change this organization's framework.", "danger"), no_update
    except FrameworkError as exc:
        return _message([html.Strong("Nothing was changed: "), str(exc)], "danger",
                        id="framework-item-refused"), no_update
    return _message([text, " ", RECOMPUTED], id="framework-item-done"), (version or 0) + 1


def _tree(organization_id) -> list[dict]:
    return fw.framework(get_db(), current_principal(), int(organization_id))["sections"]


def _options(tree: list[dict]) -> tuple[list, list, list]:
    """(every item, the sections, the platforms) as dropdown options."""
    sections = [{"label": s["name"], "value": item_value("section", s["id"])} for s in tree]
    platforms = [{"label": f"{s['name']} › {p['name']}", "value": item_value("platform", p["id"])}
                 for s in tree for p in s["platforms"]]
    metrics = [{"label": f"Metric · {p['name']} › {m['name']} ({m['code']})", "value": item_value("metric", m["id"])}
               for s in tree for p in s["platforms"] for m in p["metrics"]]
    every = [{**o, "label": f"Section · {o['label']}"} for o in sections] \
        + [{**o, "label": f"Platform · {o['label']}"} for o in platforms] + metrics
    return every, sections, platforms


def item_choices(organization_id, _version, _label):
    """The dropdowns of the organization's items, after every change."""
    if organization_id is None:
        return [], [], [], None
    every, sections, platforms = _options(_tree(organization_id))
    return every, sections, platforms, None


def _find(tree: list[dict], item) -> dict | None:
    parsed = parse_item(item)
    for s in tree:
        for p in s["platforms"]:
            for m in p["metrics"]:
                if parsed == ("metric", m["id"]):
                    return m
            if parsed == ("platform", p["id"]):
                return p
        if parsed == ("section", s["id"]):
            return s
    return None


def item_fields(item, organization_id):
    """The chosen item's current name (and metric fields), to edit in place."""
    found = _find(_tree(organization_id), item) if item and organization_id is not None else None
    if found is None:
        return "", "", "", None, "", HIDDEN
    return (found["name"], found.get("code", ""), found.get("unit") or "", found.get("direction"),
            found.get("description") or "", HIDDEN)


def _number(value):
    return 1.0 if value in (None, "") else value


def _add_step(trigger: str, organization_id, form: dict) -> str:
    db, principal = get_db(), current_principal()
    if trigger == "framework-add-section":
        fw.create_section(db, principal, organization_id, form["section_name"], _number(form["section_weight"]))
        return f"Section “{form['section_name']}” added."
    target = parse_item(form["platform_section"] if trigger == "framework-add-platform" else form["metric_platform"])
    if trigger == "framework-add-platform":
        if target is None or target[0] != "section":
            raise FrameworkError("Choose the section the platform belongs to.")
        fw.create_platform(db, principal, organization_id, target[1], form["platform_name"],
                           _number(form["platform_weight"]))
        return f"Platform “{form['platform_name']}” added."
    if target is None or target[0] != "platform":
        raise FrameworkError("Choose the platform the metric belongs to.")
    fw.create_metric(db, principal, organization_id, target[1],
                     {"code": form["code"], "name": form["name"], "unit": form["unit"] or "",
                      "direction": form["direction"], "weight": _number(form["weight"]),
                      "description": form["description"] or ""})
    return f"Metric “{form['name']}” added."


def add_item(_section, _platform, _metric, organization_id, section_name, section_weight, platform_section,
        platform_name, platform_weight, metric_platform, code, name, unit, direction, weight, description, version):
    """Add a section, a platform or a metric (the button pressed says which)."""
    form = {"section_name": section_name, "section_weight": section_weight, "platform_section": platform_section,
            "platform_name": platform_name, "platform_weight": platform_weight, "metric_platform": metric_platform,
            "code": code, "name": name, "unit": unit, "direction": direction, "weight": weight,
            "description": description}
    return _outcome(lambda: _add_step(ctx.triggered_id, organization_id, form), version)


def _save_step(organization_id, item, name, code, unit, direction, description) -> str:
    db, principal = get_db(), current_principal()
    kind, ident = parse_item(item) or (None, None)
    if kind == "section":
        fw.update_section(db, principal, organization_id, ident, name=name or "")  # "" is refused: no blank rename
    elif kind == "platform":
        fw.update_platform(db, principal, organization_id, ident, name=name or "")
    elif kind == "metric":
        given = {"name": name, "code": code, "unit": unit, "direction": direction, "description": description}
        fw.update_metric(db, principal, organization_id, ident, {k: v for k, v in given.items() if v is not None})
    else:
        raise FrameworkError("Choose a section, platform or metric first.")
    return f"{kind.capitalize()} saved as “{name}”."


def _remove_step(organization_id, item, discard: bool) -> str:
    db, principal = get_db(), current_principal()
    kind, ident = parse_item(item) or (None, None)
    remove = {"section": fw.delete_section, "platform": fw.delete_platform, "metric": fw.delete_metric}.get(kind)
    if remove is None:
        raise FrameworkError("Choose a section, platform or metric first.")
    deleted = remove(db, principal, organization_id, ident, discard_values=discard)
    return f"{kind.capitalize()} removed" + (f" with its {deleted:,} metric values." if deleted else ".")


def _ask(organization_id, item, version) -> tuple:
    """Remove at once when nothing is lost; otherwise show the confirmation with the count."""
    try:
        held = values_held(get_db(), current_principal(), organization_id, item) if item else 0
    except FrameworkError as exc:
        return _message(str(exc), "danger", id="framework-item-refused"), no_update, HIDDEN, None, no_update
    if held:
        text = f"This removes {held:,} metric values; scores are recomputed. This cannot be undone."
        return None, no_update, {}, item, text
    message, next_version = _outcome(lambda: _remove_step(organization_id, item, False), version)
    return message, next_version, HIDDEN, None, no_update


def change_item(_save, _remove, _confirm, organization_id, item, name, code, unit, direction, description, pending,
           version):
    """Save the chosen item's fields, or remove it (asking first when it holds values)."""
    trigger = ctx.triggered_id
    if trigger == "framework-item-remove":
        return _ask(organization_id, item, version)
    if trigger == "framework-item-confirm":
        if not item or pending != item:
            return (_message("Choose the item again and press Remove… to confirm.", "warning"), no_update, HIDDEN,
                    None, no_update)
        message, next_version = _outcome(lambda: _remove_step(organization_id, item, True), version)
        return message, next_version, HIDDEN, None, no_update
    message, next_version = _outcome(
        lambda: _save_step(organization_id, item, name, code, unit, direction, description), version)
    return message, next_version, HIDDEN, None, no_update


def classify_item(_clicks, item, level):
    """Set the chosen metric's or section's classification (validated and audited by the service)."""
    kind, ident = parse_item(item) or (None, None)
    if kind not in ("metric", "section"):
        return _message("Choose a section or a metric: a platform reads at its section's level.", "warning")
    try:
        stored = set_framework_level(get_db(), current_principal(), kind, ident, level)
    except Forbidden:
        return _message("You are not allowed to change this organization's framework.", "danger")
    except (ClassificationError, LookupError) as exc:
        return _message([html.Strong("Nothing was changed: "), str(exc)], "danger", id="framework-item-refused")
    return _message(f"{kind.capitalize()} classified {stored}.", id="framework-item-classified")


def register_callbacks() -> None:
    """Declare the card's callbacks; the page module calls this each time Dash loads it for an app."""
    org = ("organization", org_allowed)
    item = ("framework_item", item_allowed)
    protected_callback(
        Output("framework-item", "options"), Output("framework-new-platform-section", "options"),
        Output("framework-new-metric-platform", "options"), Output("framework-item", "value"),
        Input("framework-org", "value"), Input("framework-items-version", "data"),
        Input("framework-version", "children"),  # the page reloaded (e.g. started from the template)
        permission=fw.FRAMEWORK_MANAGE, objects={"organization_id": org},
    )(item_choices)
    protected_callback(
        Output("framework-item-name", "value"), Output("framework-item-code", "value"),
        Output("framework-item-unit", "value"), Output("framework-item-direction", "value"),
        Output("framework-item-description", "value"), Output("framework-item-confirm-box", "style"),
        Input("framework-item", "value"), State("framework-org", "value"),
        permission=fw.FRAMEWORK_MANAGE, objects={"item": item, "organization_id": org},
        prevent_initial_call=True,
    )(item_fields)
    protected_callback(
        Output("framework-item-message", "children"), Output("framework-items-version", "data"),
        Input("framework-add-section", "n_clicks"), Input("framework-add-platform", "n_clicks"),
        Input("framework-add-metric", "n_clicks"),
        State("framework-org", "value"), State("framework-new-section-name", "value"),
        State("framework-new-section-weight", "value"), State("framework-new-platform-section", "value"),
        State("framework-new-platform-name", "value"), State("framework-new-platform-weight", "value"),
        State("framework-new-metric-platform", "value"), State("framework-new-metric-code", "value"),
        State("framework-new-metric-name", "value"), State("framework-new-metric-unit", "value"),
        State("framework-new-metric-direction", "value"), State("framework-new-metric-weight", "value"),
        State("framework-new-metric-description", "value"), State("framework-items-version", "data"),
        permission=fw.FRAMEWORK_MANAGE,
        objects={"organization_id": org, "platform_section": item, "metric_platform": item},
        prevent_initial_call=True,
    )(add_item)
    protected_callback(
        Output("framework-item-message", "children", allow_duplicate=True),
        Output("framework-items-version", "data", allow_duplicate=True),
        Output("framework-item-confirm-box", "style", allow_duplicate=True),
        Output("framework-item-pending", "data"), Output("framework-item-confirm-text", "children"),
        Input("framework-item-save", "n_clicks"), Input("framework-item-remove", "n_clicks"),
        Input("framework-item-confirm", "n_clicks"),
        State("framework-org", "value"), State("framework-item", "value"), State("framework-item-name", "value"),
        State("framework-item-code", "value"), State("framework-item-unit", "value"),
        State("framework-item-direction", "value"), State("framework-item-description", "value"),
        State("framework-item-pending", "data"), State("framework-items-version", "data"),
        permission=fw.FRAMEWORK_MANAGE,
        objects={"organization_id": org, "item": item, "pending": item},
        prevent_initial_call=True,
    )(change_item)
    protected_callback(
        Output("framework-item-message", "children", allow_duplicate=True),
        Input("framework-item-classify", "n_clicks"), State("framework-item", "value"),
        State("framework-item-level", "value"),
        permission=fw.FRAMEWORK_MANAGE, objects={"item": item}, prevent_initial_call=True,
    )(classify_item)
