"""benchmarks.dash_client follows dash-renderer's rules: bodies, initial calls, re-routing, interval ticks.

A fake server answers from a script, so each rule is checked on the exact requests sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from benchmarks.dash_client import DashTab


def comp(kind: str, ident: str | None = None, **props) -> dict:
    if ident is not None:
        props["id"] = ident
    return {"type": kind, "namespace": "dash_core_components", "props": props}


# As in the app: the shell's own Location `url`, and Dash pages' `_pages_location` feeding the router.
SHELL = comp("Div", children=[comp("Location", "url", refresh="callback-nav"),
                              comp("Location", "_pages_location", refresh="callback-nav"), comp("Div", "content")])
PAGE = comp("Div", children=[comp("Dropdown", "project", value=1, options=[1, 2]), comp("Div", "kpis"),
                             comp("Graph", "heatmap")])
DEPS = [
    {"output": "content.children", "inputs": [{"id": "_pages_location", "property": "pathname"},
                                              {"id": "_pages_location", "property": "search"}], "state": [],
     "prevent_initial_call": True},
    {"output": "..kpis.children...url.search..", "inputs": [{"id": "project", "property": "value"}], "state": [],
     "prevent_initial_call": False},
    {"output": "url.href@abc", "inputs": [{"id": "heatmap", "property": "clickData"}],
     "state": [{"id": "project", "property": "value"}], "prevent_initial_call": True},
    {"output": "kpis.title", "inputs": [{"id": "project", "property": "value"}], "state": [],
     "prevent_initial_call": False, "clientside_function": {"namespace": "x", "function_name": "y"}},
]


@dataclass
class Reply:
    status_code: int
    body: object = None
    text: str = ""
    headers: dict = field(default_factory=dict)

    def json(self):
        return self.body


class FakeServer:
    def __init__(self, deps: list[dict], layout: dict, answers) -> None:
        self.deps, self.layout, self.answers = deps, layout, answers
        self.posts: list[tuple[dict, dict]] = []

    def __call__(self, method: str, path: str, name: str, **kwargs) -> Reply:
        if path == "/_dash-layout":
            return Reply(200, self.layout)
        if path == "/_dash-dependencies":
            return Reply(200, self.deps)
        if method == "GET":
            config = json.dumps({"end_id": "END~sig"})
            return Reply(200, text=f'<script id="_dash-config" type="application/json">{config}</script>')
        self.posts.append((kwargs["json"], kwargs.get("params") or {}))
        return self.answers(kwargs["json"], kwargs.get("params") or {})


def portfolio_answers(body: dict, _params: dict) -> Reply:
    if body["output"] == "content.children":
        return Reply(200, {"multi": True, "response": {"content": {"children": PAGE}}})
    if body["output"].startswith("..kpis"):
        project = body["inputs"][0]["value"]
        return Reply(200, {"multi": True, "response": {"kpis": {"children": f"p{project}"},
                                                       "url": {"search": f"?project={project}"}}})
    return Reply(204)


def test_page_load_routes_fires_initial_callbacks_and_reroutes_when_a_callback_writes_the_url():
    server = FakeServer(DEPS, SHELL, portfolio_answers)
    tab = DashTab(server, "http://app", lambda: "tok")
    tab.load("/", "portfolio")
    outputs = [body["output"] for body, _ in server.posts]
    # router (Location mounted) → kpis + the heatmap callback (input in the new chunk, output outside it)
    # → kpis wrote ?project=1 → every Location re-reads the URL → router again → the same two again.
    assert outputs.count("content.children") == 2
    assert outputs.count("..kpis.children...url.search..") == 2
    assert outputs.count("url.href@abc") == 2
    assert "kpis.title" not in outputs, "clientside callbacks send nothing"
    assert tab.window.search == "?project=1" and tab.props("kpis")["children"] == "p1"
    router = server.posts[0][0]
    assert router["inputs"] == [{"id": "_pages_location", "property": "pathname", "value": "/"},
                                {"id": "_pages_location", "property": "search", "value": ""}]
    assert server.posts[0][1] == {"endId": "END~sig"}
    heatmap = next(body for body, _ in server.posts if body["output"] == "url.href@abc")
    assert heatmap["inputs"] == [{"id": "heatmap", "property": "clickData"}], "undefined props are left out"
    assert heatmap["state"] == [{"id": "project", "property": "value", "value": 1}]


def test_a_filter_change_sends_the_new_value_as_the_changed_prop():
    server = FakeServer(DEPS, SHELL, portfolio_answers)
    tab = DashTab(server, "http://app", lambda: "tok")
    tab.load("/", "portfolio")
    server.posts.clear()
    tab.set_props("project", value=2)
    first = server.posts[0][0]
    assert first["output"].startswith("..kpis") and first["changedPropIds"] == ["project.value"]
    assert first["inputs"][0]["value"] == 2
    assert tab.window.search == "?project=2"


def test_an_enabled_interval_ticks_until_its_callback_disables_it():
    """Run enables the follow interval; the tab ticks it every `interval` ms (a person waiting on the page)
    until the follow callback answers with disabled=True."""
    deps = [{"output": "..watch.data...tick.disabled..", "inputs": [{"id": "run", "property": "n_clicks"}],
             "state": [], "prevent_initial_call": True},
            {"output": "..bar.value...tick.disabled...msg.children..",
             "inputs": [{"id": "tick", "property": "n_intervals"}], "state": [{"id": "watch", "property": "data"}],
             "prevent_initial_call": True}]
    layout = comp("Div", children=[comp("Button", "run"), comp("Store", "watch"), comp("Div", "msg"),
                                   comp("Interval", "tick", interval=700, disabled=True), comp("Progress", "bar")])
    follows = iter([(40, False, ""), (90, False, ""), (100, True, "Done.")])

    def answers(body: dict, params: dict) -> Reply:
        if body["inputs"][0]["id"] == "run":
            return Reply(200, {"multi": True, "response": {"watch": {"data": "j1"}, "tick": {"disabled": False}}})
        assert body["state"][0]["value"] == "j1"
        value, disabled, message = next(follows)
        return Reply(200, {"multi": True, "response": {"bar": {"value": value}, "tick": {"disabled": disabled},
                                                       "msg": {"children": message}}})

    server = FakeServer(deps, layout, answers)
    slept: list[float] = []
    tab = DashTab(server, "http://app", lambda: "tok", sleep=slept.append)
    tab.load("/", "optimizer")
    assert server.posts == [] and slept == [], "a disabled interval does not tick"
    tab.click("run")
    ticks = [body["inputs"][0]["value"] for body, _ in server.posts[1:]]
    assert ticks == [1, 2, 3] and slept == [0.7, 0.7, 0.7]
    assert tab.props("bar")["value"] == 100 and tab.props("msg")["children"] == "Done."
