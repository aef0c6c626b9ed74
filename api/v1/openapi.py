"""The OpenAPI 3.1 document, built from the operations' own pydantic models, and its docs page.

OpenAPI 3.1 schemas are JSON Schema 2020-12, which is what pydantic emits, so every model goes
in `components.schemas` unchanged (`models_json_schema` names request and response variants
apart when they differ). The docs page is rendered on the server from the same document: no
script, no CDN, nothing the Content-Security-Policy has to allow.
"""

from __future__ import annotations

import json
from typing import Any

from flask import render_template_string
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.v1.framework import PATH_SCHEMAS, PROBLEM_STATUSES, Operation
from api.v1.idempotency import HEADER, MAX_KEY
from api.v1.problems import PROBLEM_TYPE, TITLES, Problem

REF = "#/components/schemas/{model}"


def _models(operations: list[Operation]) -> list[tuple[type[BaseModel], str]]:
    seen: dict[tuple[type[BaseModel], str], None] = {(Problem, "serialization"): None}
    for op in operations:
        for model in (op.query, op.body, op.form):
            if model is not None:
                seen[(model, "validation")] = None
        if op.response is not None:
            seen[(op.response, "serialization")] = None
    return list(seen)


def _query_parameters(schema: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop,
             **({"description": prop["description"]} if "description" in prop else {})}
            for name, prop in schema.get("properties", {}).items()]


def _responses(op: Operation, keys: dict, problem_ref: dict[str, Any]) -> dict[str, Any]:
    """The operation's success response (a file, nothing, or a JSON model) and the problems it may answer."""
    responses: dict[str, Any] = {}
    if op.produces:
        responses[str(op.status)] = {"description": op.summary, "content": {
            media: {"schema": {"type": "string", "contentMediaType": media}} for media in op.produces}}
    elif op.response is None:
        responses[str(op.status)] = {"description": "Done; no content."}
    else:
        responses[str(op.status)] = {"description": op.summary, "content": {
            "application/json": {"schema": keys[(op.response, "serialization")]}}}
        if op.location is not None:
            responses[str(op.status)]["headers"] = {"Location": {
                "description": "Where to read the created resource.", "schema": {"type": "string"}}}
    # 403 needs a caller, except where an operation declares it (sign-in refusing an account).
    statuses = sorted({*(s for s in PROBLEM_STATUSES if op.auth or s != 403), *op.problems})
    for status in statuses:
        responses[str(status)] = {"description": TITLES[status], "content": {PROBLEM_TYPE: {"schema": problem_ref}}}
    return responses


def _request_body(op: Operation, keys: dict, defs: dict[str, Any]) -> dict[str, Any] | None:
    """A JSON body, or a multipart form with its files (the form wins when an operation declares both)."""
    body = None
    if op.body is not None:
        body = {"required": True, "content": {"application/json": {"schema": keys[(op.body, "validation")]}}}
    if op.form is not None:
        form = defs[keys[(op.form, "validation")]["$ref"].rsplit("/", 1)[-1]]
        schema = {"type": "object", "properties": dict(form.get("properties", {})),
                  "required": [*form.get("required", []), *op.files]}
        for name in op.files:
            schema["properties"][name] = {"type": "string", "contentMediaType": "application/octet-stream",
                                          "description": "The file (CSV or XLSX)."}
        body = {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    return body


def build_document(operations: list[Operation], *, title: str, version: str, description: str,
                   tags: list[dict[str, str]]) -> dict[str, Any]:
    keys, defs = models_json_schema(_models(operations), ref_template=REF)
    defs = dict(defs.get("$defs", {}))
    problem_ref = keys[(Problem, "serialization")]
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        params: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": PATH_SCHEMAS[converter]}
            for name, converter in op.path_converters.items()]
        if op.query is not None:
            params += _query_parameters(keys[(op.query, "validation")], defs)
        if op.method == "POST" and op.auth and op.idempotent:
            params.append({"name": HEADER, "in": "header", "required": False,
                           "description": "Replays the first response of a retried POST (kept 24 hours).",
                           "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY,
                                      "pattern": "^[A-Za-z0-9._:-]+$"}})
        operation: dict[str, Any] = {"operationId": op.endpoint, "summary": op.summary, "tags": [op.tag],
                                     "parameters": params, "responses": _responses(op, keys, problem_ref)}
        if op.description:
            operation["description"] = op.description
        operation["security"] = [{"bearer": []}] if op.auth else []
        body = _request_body(op, keys, defs)
        if body is not None:
            operation["requestBody"] = body
        paths.setdefault("/api/v1" + op.openapi_path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": "/"}],
        "tags": tags,
        "paths": paths,
        "components": {"schemas": defs, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or personal API token",
                       "description": "An access token from POST /api/v1/auth/token, or a personal API token."}}},
    }


DOCS_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ doc.info.title }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1f2933}
h2{border-bottom:1px solid #ccd;padding-bottom:.2rem;margin-top:2rem} code,pre{font-size:.85rem}
.op{border:1px solid #dde;border-radius:6px;margin:.8rem 0;padding:.6rem .9rem}
.m{display:inline-block;min-width:4.2rem;font-weight:700} .GET{color:#1d6fa5}.POST{color:#2a7d2e}
.DELETE{color:#b42318} table{border-collapse:collapse} td,th{padding:.15rem .6rem;text-align:left;
vertical-align:top;border-bottom:1px solid #eef} details{margin:.3rem 0} pre{background:#f6f8fa;
padding:.5rem;overflow:auto;max-height:24rem}
</style></head><body>
<h1>{{ doc.info.title }} <small>{{ doc.info.version }}</small></h1>
<p>{{ doc.info.description }}</p>
<p>Machine-readable contract: <a href="openapi.json">openapi.json</a> (OpenAPI {{ doc.openapi }}).</p>
{% for tag in doc.tags %}
<h2 id="{{ tag.name }}">{{ tag.name }}</h2><p>{{ tag.description }}</p>
{% for path, item in doc.paths.items() %}{% for method, op in item.items() if tag.name in op.tags %}
<div class="op" id="{{ op.operationId }}"><span class="m {{ method|upper }}">{{ method|upper }}</span>
<code>{{ path }}</code> — {{ op.summary }}{% if not op.security %} <em>(no token needed)</em>{% endif %}
{% if op.description %}<p>{{ op.description }}</p>{% endif %}
{% if op.parameters %}<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th></tr>
{% for p in op.parameters %}<tr><td><code>{{ p.name }}</code></td><td>{{ p['in'] }}</td>
<td>{{ 'yes' if p.required else 'no' }}</td><td><code>{{ p.schema | tojson }}</code></td></tr>{% endfor %}
</table>{% endif %}
{% if op.requestBody %}<details><summary>Request body</summary>
<pre>{{ op.requestBody.content | tojson(indent=2) }}</pre></details>{% endif %}
<details><summary>Responses: {{ op.responses.keys() | join(', ') }}</summary>
<pre>{{ op.responses | tojson(indent=2) }}</pre></details></div>
{% endfor %}{% endfor %}{% endfor %}
<h2 id="schemas">Schemas</h2>
{% for name, schema in doc.components.schemas.items() %}<details id="schema-{{ name }}"><summary><code>{{ name }}</code>
</summary><pre>{{ schema | tojson(indent=2) }}</pre></details>{% endfor %}
</body></html>"""


def render_docs(document: dict[str, Any]) -> str:
    return render_template_string(DOCS_TEMPLATE, doc=json.loads(json.dumps(document)))
