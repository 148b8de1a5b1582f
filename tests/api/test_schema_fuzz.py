"""Schemathesis against the live OpenAPI schema: no server error, no response off the schema.

Examples are bounded so that the run stays in seconds; every operation is exercised as an
admin (who reaches every endpoint) and as an analyst (read-only, pseudonymized), with generated
valid and invalid input.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.sweep

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# The schema as the running app serves it (drf-spectacular builds it without the database).
with override_settings(ALLOWED_HOSTS=["*"]):
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())


@pytest.fixture(autouse=True)
def _fuzzable(settings):
    settings.ALLOWED_HOSTS = ["*"]
    # Generated writes come fast; the throttle is tested on its own.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_writes": "100000/minute"},
    }
    # As Django's test client does: the WSGI app must not close the test's connection, which
    # holds the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema_for_an_admin(case, world):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {world.tokens['admin']}"}, checks=CHECKS
    )


@schema.parametrize()
@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema_for_an_analyst(case, world):
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {world.tokens['analyst']}"}, checks=CHECKS
    )
    assert b"@example.org" not in response.content
