"""Schemathesis against the app's own OpenAPI document, signed in with a real token.

Every operation gets generated requests (a fixed seed, 20 examples each); each response must not
be a server error and must conform to the document: a documented status code, the documented
content type, and a body valid against its schema. SQLite only, to keep CI time reasonable
(the other API tests run on both databases).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.demo import seed_demo
from tests.integration.api.conftest import token_for
from tests.support import demo_people, make_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def signed_in_app(tmp_path_factory, _sqlite_db):
    from tests.conftest import _empty

    _empty(_sqlite_db)
    tmp = tmp_path_factory.mktemp("schemathesis")
    seed_demo(_sqlite_db, seed=7, months=2)
    people = demo_people(_sqlite_db, tmp)
    app = make_app(_sqlite_db, tmp, api_rate="100000 per minute", signin_rate_per_ip="100000 per minute",
                   signin_rate_per_account="100000 per minute")
    token = token_for(app.server.test_client(), people["Organization Administrator"])["access_token"]
    return app.server, token


@pytest.fixture(scope="module")
def api_schema(signed_in_app):
    server, _token = signed_in_app
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", server)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=20, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
def test_api_conforms_to_its_openapi_document(case, signed_in_app):
    _server, token = signed_in_app
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
