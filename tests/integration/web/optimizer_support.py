"""Drive the optimizer's callbacks over HTTP the way Dash's renderer does, background polling included."""

from __future__ import annotations

import time

from dash._utils import split_callback_id

RUN_OUTPUTS = "optimizer-job.data"


def callback_key(app, marker: str, *, background: bool | None = None) -> str:
    for key, entry in app.callback_map.items():
        if marker in key and (background is None or bool(entry.get("background")) == background):
            return key
    raise AssertionError(f"no callback with {marker!r}")


def body(app, key: str, values: dict) -> dict:
    """A callback request with `values` by parameter name (the order Dash passes them)."""
    import inspect

    entry = app.callback_map[key]
    names = list(inspect.signature(entry["callback"]).parameters)
    deps = [*entry["inputs"], *entry.get("state", [])]
    filled = [{**dep, "value": values.get(names[i])} for i, dep in enumerate(deps)]
    return {"output": key, "outputs": split_callback_id(key), "inputs": filled[: len(entry["inputs"])],
            "state": filled[len(entry["inputs"]):],
            "changedPropIds": [f"{d['id']}.{d['property']}" for d in entry["inputs"][:1]]}


def page_nonce(client, headers: dict) -> str:
    """Load /optimizer's layout through Dash's page router and read this page load's nonce."""
    app_key = next(k for k in client.application.extensions["dash_app"].callback_map if "_pages_content" in k)
    entry = client.application.extensions["dash_app"].callback_map[app_key]
    deps = [*entry["inputs"], *entry.get("state", [])]
    values = {"pathname": "/optimizer", "search": ""}
    filled = [{**d, "value": values.get(d["property"])} for d in deps]
    response = client.post("/_dash-update-component", headers=headers, json={
        "output": app_key, "outputs": split_callback_id(app_key), "inputs": filled[: len(entry["inputs"])],
        "state": filled[len(entry["inputs"]):], "changedPropIds": ["_pages_location.pathname"]})
    assert response.status_code == 200, response.data[:300]
    found = find_component(response.get_json(), "optimizer-nonce")
    assert found is not None, "optimizer layout has no nonce store"
    return found["data"]


def find_component(tree, component_id: str) -> dict | None:
    """The props of the component with `component_id` anywhere in a JSON layout."""
    if isinstance(tree, dict):
        props = tree.get("props")
        if isinstance(props, dict) and props.get("id") == component_id:
            return props
        children = tree.values()
    elif isinstance(tree, list):
        children = tree
    else:
        return None
    for child in children:
        found = find_component(child, component_id)
        if found is not None:
            return found
    return None


def start_run(client, headers: dict, app, values: dict):
    key = callback_key(app, RUN_OUTPUTS, background=True)
    return client.post("/_dash-update-component", json=body(app, key, values), headers=headers)


def poll(client, headers: dict, app, handles: dict, timeout: float = 120.0) -> tuple[dict, list]:
    """Poll a started background run until it answers; returns (final response, progress updates seen)."""
    key = callback_key(app, RUN_OUTPUTS, background=True)
    empty = body(app, key, {})
    progress = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.post("/_dash-update-component", json=empty, headers=headers,
                               query_string={"cacheKey": handles["cacheKey"], "job": handles["job"]})
        assert response.status_code in (200, 204), response.data[:500]
        data = response.get_json(silent=True) or {}
        if data.get("progress"):
            progress.append(data["progress"])
        if "response" in data:
            return data, progress
        time.sleep(0.2)
    raise AssertionError("background run did not answer in time")
