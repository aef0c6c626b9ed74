"""Request timing, request ids, the JSON access line and the `/metrics` endpoint on the Flask server.

`/metrics` is not public. With METRICS_TOKEN set it needs `Authorization: Bearer <token>` from
anywhere; without it, only a direct loopback connection is served (a request that came through a
proxy carries X-Forwarded-For or Forwarded and is refused, so a proxy on the same host does not
open it to the world). It bypasses the sign-in gate because Prometheus does not sign in.
"""

from __future__ import annotations

import logging
import time

import dash
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from core.config import Config
from core.observability import metrics
from core.observability.logs import REQUEST_ID_HEADER, request_id_from

log = logging.getLogger("digicadence.access")
bp = Blueprint("observability", __name__)
METRICS_PATH = "/metrics"
CALLBACK_PATH = "/_dash-update-component"
_FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def metrics_allowed(token: str | None) -> bool:
    """The bearer token when one is configured; otherwise a direct loopback connection only."""
    forwarded = any(request.headers.get(h) for h in _FORWARDING_HEADERS)
    return metrics.caller_allowed(token, request.headers.get("Authorization"), request.remote_addr, forwarded)


@bp.get(METRICS_PATH)
def metrics_endpoint():
    token = current_app.extensions["digicadence"].config.metrics_token
    if not metrics_allowed(token):
        reason = "a valid bearer token is required" if token else "served to loopback only (set METRICS_TOKEN)"
        response = jsonify(error="unauthenticated" if token else "forbidden", reason=reason)
        response.status_code = 401 if token else 403
        if token:
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return Response(metrics.render(), mimetype=metrics.CONTENT_TYPE.split(";")[0],
                    headers={"Content-Type": metrics.CONTENT_TYPE, "Cache-Control": "no-store"})


def _route_label() -> str:
    """The matched route template; Dash pages by their registered path; '<unmatched>' for 404s."""
    rule = request.url_rule
    if rule is None:
        return "<unmatched>"
    if rule.rule.endswith("<path:path>"):
        wanted = request.path.rstrip("/") or "/"
        for page in dash.page_registry.values():
            if (page.get("path", "").rstrip("/") or "/") == wanted:
                return page["path"]
    return rule.rule


def _callback_label(app: dash.Dash) -> str:
    """The callback's output id as registered; anything a client made up is 'unknown'."""
    try:
        body = request.get_json(silent=True, cache=True)
    except HTTPException:  # a body over the size limit is refused unread (413)
        return "unknown"
    output = body.get("output") if isinstance(body, dict) else None
    return output if isinstance(output, str) and output in app.callback_map else "unknown"


def init_observability(app: dash.Dash, config: Config) -> None:
    """Time every request, give it an id, log one JSON access line, count callbacks; serve /metrics."""
    server: Flask = app.server
    server.register_blueprint(bp)

    def start() -> None:
        g.request_started = time.perf_counter()
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))

    # First of all before-request hooks, so a request the sign-in gate answers early is timed too.
    server.before_request_funcs.setdefault(None, []).insert(0, start)

    @server.after_request
    def finish(response: Response) -> Response:
        started = g.get("request_started")
        if started is None:
            return response
        seconds = time.perf_counter() - started
        route = _route_label()
        response.headers[REQUEST_ID_HEADER] = g.request_id
        metrics.request_finished(request.method, route, response.status_code, seconds)
        if request.path == CALLBACK_PATH and request.method == "POST":
            metrics.callback_finished(_callback_label(app), response.status_code, seconds)
        if request.path != METRICS_PATH:
            # The message holds only bounded values (the route template), safe in plain-text logs too;
            # the raw path goes to its own JSON field.
            log.info("%s %s %s %.1f ms", request.method, route, response.status_code, seconds * 1000,
                     extra={"event": "request", "method": request.method, "path": request.path, "route": route,
                            "status": response.status_code, "duration_ms": round(seconds * 1000, 1),
                            "remote_addr": request.remote_addr})
        return response
