"""The OpenAPI document: generated from the routes, valid, complete, and honest about limits."""

from __future__ import annotations

import re

from django.urls import get_resolver
from openapi_spec_validator import validate

from api.openapi import documented_routes, openapi_path
from api.routes import ROUTES
from api.shapes import SFTP_CREATE, SFTP_UPDATE

DOC = "/api/v1/openapi.json"


def _served(client):
    response = client.get(DOC)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()


def test_it_serves_a_valid_openapi_3_document(client, db):
    document = _served(client)
    validate(document)
    assert document["openapi"].startswith("3.")


def test_it_documents_every_route_and_method_of_the_api_exactly(client, db):
    document = _served(client)
    served = set()
    for pattern in get_resolver().url_patterns:
        for inner in getattr(pattern, "url_patterns", [pattern]):
            route = str(inner.pattern)
            if route.startswith(("api/", "authentication/")):
                handlers = getattr(inner.callback, "handlers", None)
                assert handlers, f"{route} is not an api.http.endpoint"
                served |= {(openapi_path(route), method.lower()) for method in handlers}
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert served == documented
    assert len(served) >= 13


def test_it_documents_each_operation_with_its_auth_errors_and_bodies(client, db):
    document = _served(client)
    schemes = document["components"]["securitySchemes"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["summary"] and operation["operationId"], (path, method)
            for requirement in operation["security"]:
                assert set(requirement) <= set(schemes)
            statuses = set(operation["responses"])
            if any("apiKeyHeader" in r for r in operation["security"]):
                assert "401" in statuses, (path, method)
            if "{id}" in path:
                assert "404" in statuses, (path, method)
            if "requestBody" in operation and "apiKeyHeader" in str(operation["security"]):
                assert {"400", "413", "415"} <= statuses, (path, method)


def test_it_states_the_limits_the_code_enforces(client, db):
    schemas = _served(client)["components"]["schemas"]
    create = schemas["SftpCredentialCreate"]
    assert create["additionalProperties"] is False
    assert create["properties"]["port"]["minimum"] == 1
    assert create["properties"]["port"]["maximum"] == 65535
    assert create["properties"]["auth_type"]["enum"] == ["PASSWORD", "KEY"]
    assert set(create["required"]) == {"hostname", "port", "user", "auth_type"}
    assert set(schemas["SftpCredentialUpdate"]["properties"]) == set(SFTP_UPDATE.fields)
    assert set(create["properties"]) == set(SFTP_CREATE.fields)
    # The seed document's body fields, exactly, plus the optional business unit on create.
    assert set(SFTP_UPDATE.fields) == {"hostname", "port", "user", "auth_type", "password",
                                       "private_key"}
    assert schemas["SftpCredential"]["properties"]["key_fingerprint"]["nullable"] is True


def test_it_builds_the_document_from_the_routes_not_a_file(db):
    paths = [path for path, _ in documented_routes(ROUTES)]
    assert "/api/v1/headless/sftp/credentials/{id}/" in paths
    assert all(not re.search(r"<\w+", path) for path in paths)
