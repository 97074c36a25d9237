"""Schema-driven fuzzing: schemathesis loads the document the app serves (through its WSGI
application) and sends well over 1,000 generated requests, valid and invalid, to every
operation. No answer may be a 5xx, and every answer must match the document: its status
codes, content types, headers and body schemas."""

from __future__ import annotations

import logging

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from credentials.models import Kind
from tests.api.helpers import make_api_client
from tests.factories import make_credential

MIN_REQUESTS = 1_000
# Invalid data must be refused with a 4xx; an oversized body is refused as such (413).
# The token endpoint checks its body before the credentials in it: an invalid body is a 400,
# never the 401 of a wrong secret.
CONFIG = schemathesis.Config.from_dict({
    "checks": {"negative_data_rejection": {
        "expected-statuses": [400, 401, 404, 405, 409, 413, 415],
    }},
    "operations": [{"include-path": "/authentication/token", "checks": {
        "negative_data_rejection": {"expected-statuses": [400, 413, 415]},
    }}],
})
CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance,
               response_headers_conformance, response_schema_conformance]


@pytest.fixture
def wsgi_app():
    # Like Django's test client: keep the test's connection (and its transaction) open
    # across the requests the WSGI handler serves in this thread.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    # A thousand refused requests would each log a warning; failures are asserted instead.
    request_log = logging.getLogger("django.request")
    level = request_log.level
    request_log.setLevel(logging.ERROR)
    yield get_wsgi_application()
    request_log.setLevel(level)
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _run(operation, *, mode, examples, headers, sent, path_parameters=None, strategy=None):
    checks = [*CONFORMANCE, negative_data_rejection] if mode == GenerationMode.NEGATIVE else (
        CONFORMANCE)
    if strategy is None:
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @given(case=strategy)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def check(case):
        response = case.call(headers=headers)
        sent.append((case.method, case.path, response.status_code))
        case.validate_response(response, checks=checks, headers=headers)

    check()


def test_it_answers_over_a_thousand_generated_requests_without_a_server_error(
    wsgi_app, acme_key, unit
):
    sftp = make_credential(unit, Kind.SFTP_PASSWORD)
    api_client = make_api_client(unit)
    real_ids = {
        "/api/v1/headless/sftp/credentials/{id}/": str(sftp.pk),
        "/api/v1/headless/as2/certificates/{id}/": str(make_credential(unit,
                                                                       Kind.AS2_CERTIFICATE).pk),
        "/api/v1/headless/api/credentials/{id}/": str(api_client.credential.pk),
    }
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", wsgi_app, config=CONFIG)
    headers = {"X-Keyturn-Key": acme_key}
    sent: list[tuple[str, str, int]] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deactivation last, so that updates of the real credential can still rotate it.
    for operation in sorted(operations, key=lambda op: op.method.upper() == "DELETE"):
        # The document's own examples first: they make valid bodies (201 and rotations).
        for strategy in schema.get_strategies_from_examples(operation):
            _run(operation, mode=GenerationMode.POSITIVE, examples=5, headers=headers,
                 sent=sent, strategy=strategy)
        _run(operation, mode=GenerationMode.POSITIVE, examples=70, headers=headers, sent=sent)
        _run(operation, mode=GenerationMode.NEGATIVE, examples=30, headers=headers, sent=sent)
        if operation.path in real_ids:
            _run(operation, mode=GenerationMode.POSITIVE, examples=40, headers=headers,
                 sent=sent, path_parameters={"id": real_ids[operation.path]})
        if operation.path == "/authentication/token":
            # With real client credentials: valid bodies get tokens, invalid ones still 400.
            with_client = {**headers, "Authorization": api_client.basic}
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _run(operation, mode=mode, examples=30, headers=with_client, sent=sent)
    token_statuses = {status for _, path, status in sent if path == "/authentication/token"}
    assert {200, 400, 401} <= token_statuses, token_statuses
    statuses = sorted({status for _, _, status in sent})
    assert len(sent) >= MIN_REQUESTS, f"only {len(sent)} requests were generated"
    assert all(status < 500 for status in statuses)
    assert {200, 201, 204, 400, 401, 404} <= set(statuses), statuses
