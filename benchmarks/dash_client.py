"""A headless stand-in for dash-renderer: the HTTP requests a browser tab makes, and nothing else.

The load test must send what a real browser sends, so this module does not hold hand-typed request
bodies. It loads a page as the renderer does (the page, `/_dash-layout`, `/_dash-dependencies`),
keeps the component tree, and fires callbacks by the renderer's rules: on layout load, every
callback not marked `prevent_initial_call` whose inputs are all rendered; after a prop changes
(a person's click or typing, or a callback's output), every callback with that prop as an input;
a callback waits while another queued callback produces one of its inputs. Request bodies are built
from the dependency specs and the current props, exactly as `fillVals` does in the renderer.

Also emulated, because the app relies on them:
- `dcc.Location` (refresh="callback-nav"): on mount it fills its props from the window location; when
  a callback writes a different URL it pushes history and every Location picks up the new URL, which
  is how Dash pages re-route (`_pages_location` → the router callback).
- `dcc.Interval`: while one is enabled (`disabled` false) after an action, it ticks (`n_intervals` + 1
  every `interval` ms) as in a tab left open, until a callback disables it — how a page follows a
  job (the optimizer) — or `poll_timeout_s` passes.
- The CSRF header (X-CSRFToken from the `_csrf_token` cookie) on every POST.

Clientside callbacks run in the browser and send nothing, so they are skipped. Pattern-matching ids
are not tracked (no flow of the load test uses them).

The transport is injected, so the same client runs inside locust (timed, failures counted) and in
plain tests: `transport(method, path, name, **requests_kwargs) -> response`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

Transport = Callable[..., Any]
LOCATION_PROPS = ("pathname", "href", "hash", "search")
MAX_CALLBACKS_PER_ACTION = 200  # a runaway loop (callback A → B → A …) is a bug, not a load


class DashClientError(RuntimeError):
    """The app answered something a browser would show as an error.

    `http_status` is set when the HTTP status itself was the failure (the transport counted it already).
    """

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


@dataclass
class Dependency:
    """One entry of /_dash-dependencies."""

    output: str
    outputs: list[dict]
    inputs: list[dict]
    state: list[dict]
    prevent_initial_call: bool
    clientside: bool
    name: str

    @classmethod
    def from_spec(cls, spec: dict) -> Dependency:
        output = spec["output"]
        outputs = [_parse_output(part) for part in _split_outputs(output)]
        return cls(output=output, outputs=outputs, inputs=spec.get("inputs", []), state=spec.get("state", []),
                   prevent_initial_call=bool(spec.get("prevent_initial_call")),
                   clientside=bool(spec.get("clientside_function")), name=_short_name(outputs))

    @property
    def multi(self) -> bool:
        return self.output.startswith("..")


def _split_outputs(output: str) -> list[str]:
    return output[2:-2].split("...") if output.startswith("..") else [output]


def _parse_output(part: str) -> dict:
    ident, _, prop = part.rpartition(".")
    if ident.startswith("{"):
        ident = json.loads(ident)
    return {"id": ident, "property": prop}


def _short_name(outputs: list[dict]) -> str:
    first = outputs[0]
    ident = first["id"] if isinstance(first["id"], str) else json.dumps(first["id"], sort_keys=True)
    return f"{ident}.{first['property'].split('@')[0]}"


def is_component(value: Any) -> bool:
    return isinstance(value, dict) and "props" in value and "type" in value and "namespace" in value


def walk(value: Any, visit: Callable[[dict], None]) -> None:
    """Call `visit` on every component inside a prop value (children, or any component-valued prop)."""
    if is_component(value):
        visit(value)
        for prop in value["props"].values():
            if isinstance(prop, dict | list):
                walk(prop, visit)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                walk(item, visit)


@dataclass
class Window:
    """window.location of the tab."""

    origin: str
    pathname: str = "/"
    search: str = ""
    hash: str = ""

    @property
    def href(self) -> str:
        return f"{self.origin}{self.pathname}{self.search}{self.hash}"

    def get(self, prop: str) -> str:
        return getattr(self, prop)

    def push(self, url: str) -> None:
        parts = urlsplit(url)
        self.pathname = parts.path or "/"
        self.search = f"?{parts.query}" if parts.query else ""
        self.hash = f"#{parts.fragment}" if parts.fragment else ""


@dataclass
class DashTab:
    """One browser tab on the app; `page` names the page kind in every request it sends."""

    transport: Transport
    origin: str
    csrf: Callable[[], str | None]
    window: Window = field(init=False)
    deps: list[Dependency] = field(default_factory=list)
    root: dict | None = None
    index: dict[str, dict] = field(default_factory=dict)  # id → the component's props (live, in the tree)
    end_id: str | None = None
    page: str = "page"
    poll_timeout_s: float = 600.0
    sleep: Callable[[float], None] = time.sleep
    fired: list[str] = field(default_factory=list)  # names of the callbacks sent, for tests
    # The renderer's `predecessors`: the chain of callbacks whose outputs led to a queued one. A callback
    # is never re-triggered through its own chain (circular); components' own setProps start no chain.
    _chain: frozenset[int] = field(default=frozenset(), repr=False)
    _preds: dict[int, frozenset[int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.window = Window(self.origin)

    # ------------------------------------------------------------------ page load

    def load(self, path: str, page: str) -> None:
        """A full page load: HTML, layout, dependencies, then every callback the load fires."""
        self.page = page
        self.window.push(path)
        html = self._request("GET", path, f"{page} GET page").text
        match = re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', html, re.S)
        if not match:
            raise DashClientError(f"{path}: no Dash config in the page (not signed in?)")
        self.end_id = json.loads(match.group(1)).get("end_id")
        layout = self._request("GET", "/_dash-layout", f"{page} GET /_dash-layout").json()
        specs = self._request("GET", "/_dash-dependencies", f"{page} GET /_dash-dependencies").json()
        self.deps = [Dependency.from_spec(spec) for spec in specs]
        self.root = {"type": "Root", "namespace": "_", "props": {"children": layout}}
        self._reindex()
        queue: dict[int, set[str]] = {}
        self._initial_callbacks(layout, queue, whole_layout=True)
        self._mount_locations(layout, queue)
        self._run(queue)
        self._tick_intervals()

    # ------------------------------------------------------------------ what a person does

    def set_props(self, ident: str, **props: Any) -> None:
        """A person changes inputs (typing, picking an option); dependent callbacks fire."""
        queue: dict[int, set[str]] = {}
        self._apply(ident, props, queue)
        self._run(queue)
        self._tick_intervals()

    def click(self, ident: str) -> None:
        current = self.props(ident).get("n_clicks") or 0
        self.set_props(ident, n_clicks=current + 1)

    def follow_link(self, href: str, page: str) -> None:
        """A dcc.Link click: history.pushState and every Location re-reads the URL (no page load)."""
        self.page = page
        self.window.push(href)
        queue: dict[int, set[str]] = {}
        self._location_changed(queue)
        self._run(queue)
        self._tick_intervals()

    def props(self, ident: str) -> dict:
        if ident not in self.index:
            raise DashClientError(f"{self.page}: component {ident!r} is not on the page")
        return self.index[ident]

    def has(self, ident: str) -> bool:
        return ident in self.index

    def links(self, prefix: str) -> list[str]:
        """The hrefs of every dcc.Link on the page starting with `prefix`."""
        found: list[str] = []

        def visit(component: dict) -> None:
            href = component["props"].get("href")
            if component["type"] == "Link" and isinstance(href, str) and href.startswith(prefix):
                found.append(href)

        walk(self.root["props"]["children"], visit)
        return found

    def options(self, ident: str) -> list[Any]:
        return [o.get("value") if isinstance(o, dict) else o for o in self.props(ident).get("options") or []]

    # ------------------------------------------------------------------ renderer rules

    def _enabled_intervals(self) -> list[dict]:
        found: list[dict] = []

        def visit(component: dict) -> None:
            if component["type"] == "Interval" and not component["props"].get("disabled") and \
                    isinstance(component["props"].get("id"), str):
                found.append(component["props"])

        if self.root is not None:
            walk(self.root["props"]["children"], visit)
        return found

    def _tick_intervals(self) -> None:
        """Tick enabled dcc.Interval components until their callbacks disable them (a person waiting)."""
        deadline = time.monotonic() + self.poll_timeout_s
        while enabled := self._enabled_intervals():
            if time.monotonic() > deadline:
                raise DashClientError(f"{self.page}: an interval still ticking after {self.poll_timeout_s:.0f} s")
            self.sleep(min((p.get("interval") or 1000) for p in enabled) / 1000)
            queue: dict[int, set[str]] = {}
            for interval in enabled:
                self._apply(interval["id"], {"n_intervals": (interval.get("n_intervals") or 0) + 1}, queue)
            self._run(queue)

    def _reindex(self) -> None:
        index: dict[str, dict] = {}

        def visit(component: dict) -> None:
            ident = component["props"].get("id")
            if isinstance(ident, str):
                index[ident] = component["props"]

        walk(self.root["props"]["children"], visit)
        self.index = index

    def _present(self, dep: dict) -> bool:
        return isinstance(dep["id"], str) and dep["id"] in self.index

    def _initial_callbacks(self, chunk: Any, queue: dict[int, set[str]], *, whole_layout: bool = False) -> None:
        """Callbacks a newly rendered chunk fires (the renderer's getLayoutCallbacks).

        An output in the chunk: fires unless `prevent_initial_call`. An input in the chunk of a callback
        whose outputs all lie outside it (a new chunk only, not the first layout): fires even with
        `prevent_initial_call`, as its inputs count as changed. Either way only with every input rendered.
        """
        ids: set[str] = set()
        walk(chunk, lambda c: ids.add(c["props"]["id"]) if isinstance(c["props"].get("id"), str) else None)
        for number, dep in enumerate(self.deps):
            if dep.clientside or not dep.inputs or not all(self._present(d) for d in dep.inputs):
                continue
            outputs_inside = any(isinstance(o["id"], str) and o["id"] in ids for o in dep.outputs)
            inputs_inside = any(isinstance(d["id"], str) and d["id"] in ids for d in dep.inputs)
            if (outputs_inside and not dep.prevent_initial_call) or (
                    inputs_inside and not outputs_inside and not whole_layout):
                self._enqueue(queue, number, set())

    def _enqueue(self, queue: dict[int, set[str]], number: int, changed: set[str]) -> None:
        if number in self._chain:
            return  # circular: the renderer drops it
        if number not in queue:
            self._preds[number] = self._chain
        queue.setdefault(number, set()).update(changed)

    def _mount_locations(self, chunk: Any, queue: dict[int, set[str]]) -> None:
        """dcc.Location's componentDidMount: unset props are filled from window.location."""
        def visit(component: dict) -> None:
            if component["type"] != "Location":
                return
            props = component["props"]
            filled = {p: self.window.get(p) for p in LOCATION_PROPS if props.get(p) is None}
            if filled:
                props.update(filled)
                chain, self._chain = self._chain, frozenset()  # the component's own setProps
                self._triggered(props["id"], filled, queue)
                self._chain = chain

        walk(chunk, visit)

    def _location_changed(self, queue: dict[int, set[str]]) -> None:
        """The `_dashprivate_pushstate` event: every Location takes the props that differ from the window."""
        for ident, props in list(self.index.items()):
            if self._is_location(ident):
                changed = {p: self.window.get(p) for p in LOCATION_PROPS if props.get(p) != self.window.get(p)}
                if changed:
                    props.update(changed)
                    self._triggered(ident, changed, queue)

    def _is_location(self, ident: str) -> bool:
        found = []

        def visit(component: dict) -> None:
            if component["props"].get("id") == ident and component["type"] == "Location":
                found.append(component)

        walk(self.root["props"]["children"], visit)
        return bool(found)

    def _triggered(self, ident: str, props: dict, queue: dict[int, set[str]]) -> None:
        for number, dep in enumerate(self.deps):
            if dep.clientside:
                continue
            hit = {f"{ident}.{p}" for p in props for d in dep.inputs if d["id"] == ident and d["property"] == p}
            if hit and all(self._present(d) for d in dep.inputs):
                self._enqueue(queue, number, hit)

    def _apply(self, ident: str, props: dict, queue: dict[int, set[str]]) -> None:
        """Set props on a component (a callback's output or a person's input) and queue what they trigger."""
        if ident not in self.index:
            return  # output to a component no longer on the page: the renderer drops it
        target = self.index[ident]
        location = self._is_location(ident)
        before = {p: target.get(p) for p in props}
        target.update(props)
        chunks = [v for v in props.values() if isinstance(v, dict | list)]
        if chunks:
            self._reindex()
            for chunk in chunks:
                self._initial_callbacks(chunk, queue)
                self._mount_locations(chunk, queue)
        self._triggered(ident, props, queue)
        if location:
            self._location_written(props, before, queue)

    def _location_written(self, props: dict, before: dict, queue: dict[int, set[str]]) -> None:
        """dcc.Location.updateLocation after a callback wrote it (refresh='callback-nav')."""
        moved = {p: v for p, v in props.items() if p in LOCATION_PROPS and v is not None
                 and v != self.window.get(p) and v != before.get(p)}
        if not moved:
            return
        if "href" in moved:
            self.window.push(moved["href"][len(self.origin):] if moved["href"].startswith(self.origin)
                             else moved["href"])
        else:
            for prop in ("pathname", "search", "hash"):
                if prop in moved:
                    setattr(self.window, prop, moved[prop])
        chain, self._chain = self._chain, frozenset()  # the pushstate event: the components' own setProps
        self._location_changed(queue)
        self._chain = chain

    def _run(self, queue: dict[int, set[str]]) -> None:
        sent = 0
        while queue:
            number = self._next(queue)
            changed = queue.pop(number)
            dep = self.deps[number]
            if not all(self._present(d) for d in dep.inputs):
                continue  # its inputs left the page meanwhile
            sent += 1
            if sent > MAX_CALLBACKS_PER_ACTION:
                raise DashClientError(f"{self.page}: more than {MAX_CALLBACKS_PER_ACTION} callbacks for one action")
            response = self._call(dep, sorted(changed))
            self._chain = self._preds.pop(number, frozenset()) | {number}
            try:
                for ident, props in response.items():
                    self._apply(ident, props, queue)
            finally:
                self._chain = frozenset()

    def _next(self, queue: dict[int, set[str]]) -> int:
        """The first queued callback none of whose inputs another queued callback still has to produce."""
        produced = {(o["id"], o["property"].split("@")[0]) for n in queue for o in self.deps[n].outputs}
        for number in queue:
            dep = self.deps[number]
            own = {(o["id"], o["property"].split("@")[0]) for o in dep.outputs}
            if not any((d["id"], d["property"]) in produced - own for d in dep.inputs):
                return number
        return next(iter(queue))

    def _values(self, deps: list[dict]) -> list[dict]:
        filled = []
        for d in deps:
            item = {"id": d["id"], "property": d["property"]}
            value = self.index.get(d["id"], {}).get(d["property"]) if isinstance(d["id"], str) else None
            if value is not None:
                item["value"] = value  # undefined props are left out of the JSON, as JSON.stringify does
            filled.append(item)
        return filled

    def body(self, dep: Dependency, changed: list[str]) -> dict:
        """The request body dash-renderer sends for `dep` (see handleServerside/fillVals)."""
        payload = {"output": dep.output, "outputs": dep.outputs if dep.multi else dep.outputs[0],
                   "inputs": self._values(dep.inputs), "changedPropIds": changed,
                   "parsedChangedPropsIds": changed}
        if dep.state:
            payload["state"] = self._values(dep.state)
        return payload

    def _call(self, dep: Dependency, changed: list[str]) -> dict[str, dict]:
        """POST one callback; returns {id: {prop: value}}."""
        self.fired.append(dep.name)
        payload = self.body(dep, changed)
        name = f"{self.page} {dep.name}"
        params = {"endId": self.end_id} if self.end_id else {}
        response = self._post(payload, params, name)
        if response is None:
            return {}
        return self._collect(response)

    def _collect(self, response: dict) -> dict[str, dict]:
        updates: dict[str, dict] = {}
        for source in (response.get("sideUpdate") or {}, response.get("response") or {}):
            for ident, props in source.items():
                updates.setdefault(ident, {}).update(props)
        banner = updates.get("app-error", {})
        if banner.get("is_open"):
            raise DashClientError(f"{self.page}: error banner: {banner.get('children')}")
        return updates

    def _post(self, payload: dict, params: dict, name: str) -> dict | None:
        token = self.csrf()
        headers = {"X-CSRFToken": token} if token else {}
        response = self._request("POST", "/_dash-update-component", name, json=payload, params=params,
                                 headers=headers)
        if response.status_code == 204:
            return None
        return response.json()

    def _request(self, method: str, path: str, name: str, **kwargs) -> Any:
        response = self.transport(method, path, name, **kwargs)
        if response.status_code not in (200, 204):
            raise DashClientError(f"{name}: HTTP {response.status_code}: {response.text[:300]}",
                                  http_status=response.status_code)
        return response


class FlaskResponse:
    """A Flask test-client response with the bits of the `requests` API the client reads."""

    def __init__(self, response: Any) -> None:
        self.status_code = response.status_code
        self.headers = response.headers
        self.text = response.get_data(as_text=True)
        self._json = response.get_json(silent=True)

    def json(self) -> Any:
        return self._json


def flask_transport(client: Any) -> Transport:
    """A transport over a Flask test client (tests: the app in-process, no server)."""

    def send(method: str, path: str, _name: str, *, params: dict | None = None, allow_redirects: bool = True,
             **kwargs: Any) -> FlaskResponse:
        return FlaskResponse(client.open(path, method=method, query_string=params or None,
                                         follow_redirects=allow_redirects, **kwargs))

    return send


def flask_csrf(client: Any) -> Callable[[], str | None]:
    def token() -> str | None:
        cookie = client.get_cookie("_csrf_token")
        return cookie.value if cookie is not None else None

    return token
