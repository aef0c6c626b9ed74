"""Request bodies the server accepts: size and nesting limits, and a well-formed Dash callback envelope.

A browser can post anything to `/_dash-update-component`. Dash trusts the body's shape: `{}` or an
unknown output id raises KeyError, outputs that do not match the callback make its return value
"invalid", 100,000 nested brackets raise RecursionError inside `json.loads`, and a 12 MB body is read
and parsed whole. Each of those was a 500. Here, before Dash dispatches:

* every request is capped at `Config.max_request_bytes` (Flask's MAX_CONTENT_LENGTH; 413);
* every JSON parse on the server (Dash, the API, our own hooks) goes through a JSON provider that
  refuses a body nested deeper than `Config.max_json_depth` before Python's parser recurses;
* a callback post must be a JSON object naming a registered callback, with the outputs, inputs and
  state that callback declares (values are the callback's business) and `changedPropIds` a list of
  strings (400 otherwise), and it may be larger than `Config.max_json_bytes` only when the callback
  takes a file (a `contents` property, as the import page's upload does; 413 otherwise).

Refusals are JSON `{"error": ..., "reason": ...}` in plain words, like the CSRF and 403 answers.
"""

from __future__ import annotations

from typing import Any

import dash
from dash._utils import split_callback_id
from flask import Flask, jsonify, render_template, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from core.config import Config
from core.jsonlimits import JsonTooDeep, check_depth, loads_limited, size_text

CALLBACK_PATH = "/_dash-update-component"
FILE_PROPERTY = "contents"  # dcc.Upload's property: the file, base64-encoded


class LimitedJSONProvider(DefaultJSONProvider):
    """Flask's JSON with a nesting limit on every parse (`request.get_json` included)."""

    max_depth = Config.max_json_depth

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_limited(s, self.max_depth, **kwargs)


def _refuse(status: int, error: str, reason: str):
    return jsonify(error=error, reason=reason), status


def _matches(posted: Any, declared: dict) -> bool:
    """One posted dependency against the declared one (a pattern-matching id may come as a list)."""
    declared_id = declared["id"]
    if isinstance(declared_id, str) and declared_id.startswith("{"):  # pattern-matching id: shape only
        items = posted if isinstance(posted, list) else [posted]
        return all(isinstance(p, dict) and isinstance(p.get("id"), dict | str)
                   and p.get("property") == declared["property"] for p in items)
    return (isinstance(posted, dict) and posted.get("id") == declared_id
            and posted.get("property") == declared["property"])


def _same_list(posted: Any, declared: list[dict]) -> bool:
    return (isinstance(posted, list) and len(posted) == len(declared)
            and all(_matches(p, d) for p, d in zip(posted, declared, strict=True)))


def envelope_problem(body: Any, callback_map: dict[str, dict]) -> str | None:
    """Why `body` is not a well-formed request for one of `callback_map`'s callbacks; None when it is."""
    if not isinstance(body, dict):
        return "The request must be a JSON object describing a callback."
    output = body.get("output")
    if not isinstance(output, str) or output not in callback_map:
        return "This request names no callback of this app; reload the page."
    entry = callback_map[output]
    if not entry.get("no_output"):
        declared = split_callback_id(output)
        outputs = body.get("outputs")
        fits = _same_list(outputs, declared) if isinstance(declared, list) else _matches(outputs, declared)
        if not fits:
            return "The request's outputs do not match the callback; reload the page."
    if not _same_list(body.get("inputs"), entry.get("inputs", [])):
        return "The request's inputs do not match the callback; reload the page."
    if not _same_list(body.get("state", []), entry.get("state", [])):
        return "The request's state does not match the callback; reload the page."
    changed = body.get("changedPropIds", [])
    if not (isinstance(changed, list) and all(isinstance(c, str) for c in changed)):
        return "The request's changedPropIds must be a list of texts."
    return None


def takes_file(entry: dict) -> bool:
    """Whether a callback receives an uploaded file, so its posts may exceed the JSON limit."""
    return any(dep.get("property") == FILE_PROPERTY for dep in [*entry.get("inputs", []), *entry.get("state", [])])


def install_body_limits(app: dash.Dash, config: Config) -> None:
    """Cap request sizes and JSON nesting on `app.server`, and check callback envelopes.

    Call after `harden` so the check runs after the sign-in gate and the CSRF check.
    """
    server: Flask = app.server
    server.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    server.config["DC_MAX_JSON_BYTES"] = config.max_json_bytes
    server.config["DC_MAX_JSON_DEPTH"] = config.max_json_depth
    provider = LimitedJSONProvider(server)
    provider.max_depth = config.max_json_depth
    provider.sort_keys = server.json.sort_keys
    server.json = provider
    too_large = (f"The request is larger than the {size_text(config.max_request_bytes)} limit; "
                 "nothing was changed.")

    @server.errorhandler(RequestEntityTooLarge)
    def request_too_large(_error: RequestEntityTooLarge):
        if request.path.startswith("/_dash-") or request.is_json:
            return _refuse(413, "too_large", too_large)
        return render_template("auth/error.html", title="Too large", message=too_large), 413

    @server.before_request
    def check_callback_envelope():
        if request.path != CALLBACK_PATH or request.method != "POST":
            return None
        if (request.content_length or 0) > config.max_request_bytes:
            return _refuse(413, "too_large", too_large)
        data = request.get_data(cache=True)  # past the limit without a Content-Length: 413 above
        try:
            check_depth(data, config.max_json_depth)
            body = request.get_json(force=True)
        except JsonTooDeep as exc:
            return _refuse(400, "bad_request", f"The request nests {exc.depth} levels deep; at most "
                                               f"{exc.limit} are allowed.")
        except BadRequest:
            return _refuse(400, "bad_request", "The request is not valid JSON.")
        problem = envelope_problem(body, app.callback_map)
        if problem is not None:
            return _refuse(400, "bad_request", problem)
        if len(data) > config.max_json_bytes and not takes_file(app.callback_map[body["output"]]):
            return _refuse(413, "too_large", f"The request is larger than the "
                                             f"{size_text(config.max_json_bytes)} limit for a callback; "
                                             "nothing was changed.")
        return None
