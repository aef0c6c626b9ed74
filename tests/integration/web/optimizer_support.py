"""Drive the optimizer's callbacks over HTTP the way Dash's renderer does: Run, then the interval's follow ticks."""

from __future__ import annotations

import inspect
import time

from dash._utils import split_callback_id


def callback_key(app, trigger: str) -> str:
    """The callback whose first input is `trigger` ("component.property")."""
    for key, entry in app.callback_map.items():
        inputs = entry.get("inputs") or []
        if inputs and f"{inputs[0]['id']}.{inputs[0]['property']}" == trigger:
            return key
    raise AssertionError(f"no callback triggered by {trigger!r}")


RUN, FOLLOW, CANCEL, SHOW = ("optimizer-run.n_clicks", "optimizer-watch-tick.n_intervals", "optimizer-cancel.n_clicks",
                             "optimizer-job.data")


def body(app, key: str, values: dict) -> dict:
    """A callback request with `values` by parameter name (the order Dash passes them)."""
    entry = app.callback_map[key]
    names = list(inspect.signature(entry["callback"]).parameters)
    deps = [*entry["inputs"], *entry.get("state", [])]
    filled = [{**dep, "value": values.get(names[i])} for i, dep in enumerate(deps)]
    return {"output": key, "outputs": split_callback_id(key), "inputs": filled[: len(entry["inputs"])],
            "state": filled[len(entry["inputs"]):],
            "changedPropIds": [f"{d['id']}.{d['property']}" for d in entry["inputs"][:1]]}


def post(client, headers: dict, app, trigger: str, values: dict):
    return client.post("/_dash-update-component", headers=headers, json=body(app, callback_key(app, trigger), values))


def page_layout(client, headers: dict, search: str = "") -> dict:
    """/optimizer's layout (with a query such as "?scenario=3") as Dash's page router serves it on a (re)load."""
    app_key = next(k for k in client.application.extensions["dash_app"].callback_map if "_pages_content" in k)
    entry = client.application.extensions["dash_app"].callback_map[app_key]
    deps = [*entry["inputs"], *entry.get("state", [])]
    values = {"pathname": "/optimizer", "search": search}
    filled = [{**d, "value": values.get(d["property"])} for d in deps]
    response = client.post("/_dash-update-component", headers=headers, json={
        "output": app_key, "outputs": split_callback_id(app_key), "inputs": filled[: len(entry["inputs"])],
        "state": filled[len(entry["inputs"]):], "changedPropIds": ["_pages_location.pathname"]})
    assert response.status_code == 200, response.data[:300]
    return response.get_json()


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
    """Press Run; the answer holds the followed job id (`optimizer-watch`) or the reason in `optimizer-message`."""
    return post(client, headers, app, RUN, values)


def follow(client, headers: dict, app, job_id: str, timeout: float = 120.0) -> tuple[dict, list[int]]:
    """Tick the follow callback until it stops following; returns (last answer, progress values seen)."""
    progress: list[int] = []
    deadline = time.monotonic() + timeout
    tick = 0
    while time.monotonic() < deadline:
        tick += 1
        response = post(client, headers, app, FOLLOW, {"_tick": tick, "job_id": job_id})
        assert response.status_code == 200, response.data[:500]
        answer = response.get_json()["response"]
        progress.append(answer["optimizer-progress"]["value"])
        if answer["optimizer-watch"]["data"] is None:
            return answer, progress
        time.sleep(0.2)
    raise AssertionError("the job did not end in time")
