"""The OpenAPI 3 document, generated from the route table (api/routes.py, which api/urls.py
serves) and the operations and shapes its handlers carry: a field the document does not list
is refused as unknown. It knows no route itself: it is given them, so that the table, which
holds the handler serving this document, can import it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .http import MAX_BODY_BYTES, Handler, Route
from .schema import Operation, Shape, operation_of

ROUTE_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "apiKeyHeader": {
        "type": "apiKey", "in": "header", "name": "X-Keyturn-Key",
        "description": "An API key of your organization (kt_...), created by an owner.",
    },
    "apiKeyBearer": {
        "type": "http", "scheme": "bearer",
        "description": "The same API key sent as `Authorization: Bearer kt_...`.",
    },
    "clientBasic": {
        "type": "http", "scheme": "basic",
        "description": "Client id and client secret of an API credential.",
    },
    "accessToken": {
        "type": "http", "scheme": "bearer",
        "description": "An access token from POST /authentication/token.",
    },
}

DESCRIPTION = f"""Keyturn's API for machines.

* **Client credentials** (`/authentication/token`, `/api/credentials/new`,
  `/api/v1/whoami`): API clients authenticate with their client id and secret.
* **Headless API** (`/api/v1/headless/...`): an organization's API key in the
  `X-Keyturn-Key` header (or `Authorization: Bearer kt_...`).

Errors are JSON: `{{"error": code, "message": text}}`, or for invalid input
`{{"errors": {{field: [messages]}}}}`. Bodies over {MAX_BODY_BYTES} bytes get 413."""


def openapi_path(route: str) -> str:
    """Django's `api/v1/x/<str:id>/` as OpenAPI's `/api/v1/x/{id}/`."""
    return "/" + ROUTE_PARAM.sub(r"{\1}", route)


def documented_routes(routes: Iterable[Route]) -> list[tuple[str, dict[str, Handler]]]:
    """(OpenAPI path, {METHOD: handler}) for each route."""
    return [(openapi_path(route.path), dict(route.handlers)) for route in routes]


def _operation(operation: Operation, shapes: dict[str, Shape]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": list(operation.tags),
        "responses": {},
    }
    if operation.description:
        result["description"] = operation.description
    if operation.parameters:
        result["parameters"] = [param.json_schema() for param in operation.parameters]
    if operation.security:
        result["security"] = [{name: []} for name in operation.security]
        if operation.security_optional:
            result["security"].append({})
    else:
        result["security"] = []
    if operation.body is not None:
        _collect(operation.body, shapes)
        ref = {"$ref": f"#/components/schemas/{operation.body.name}"}
        result["requestBody"] = {
            "required": not operation.security_optional,
            "content": {media: {"schema": ref} for media in operation.body_media_types},
        }
    for status, response in sorted(operation.responses.items()):
        answer: dict[str, Any] = {"description": response.description}
        if response.shape is not None:
            _collect(response.shape, shapes)
            answer["content"] = {response.media_type: {
                "schema": {"$ref": f"#/components/schemas/{response.shape.name}"}
            }}
        if response.headers:
            answer["headers"] = {
                name: {"description": text, "required": True, "schema": {"type": "string"}}
                for name, text in response.headers.items()
            }
        result["responses"][str(status)] = answer
    return result


def _collect(shape: Shape, shapes: dict[str, Shape]) -> None:
    existing = shapes.get(shape.name)
    if existing is not None:
        if existing != shape:
            raise ValueError(f"two different shapes are named {shape.name}")
        return
    shapes[shape.name] = shape
    for nested in shape.nested_shapes():
        _collect(nested, shapes)


def openapi_document(routes: Iterable[Route]) -> dict[str, Any]:
    """The document of `routes`, in their order."""
    shapes: dict[str, Shape] = {}
    paths: dict[str, dict[str, Any]] = {}
    for route, handlers in documented_routes(routes):
        paths[route] = {
            method.lower(): _operation(operation_of(handler), shapes)
            for method, handler in sorted(handlers.items())
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Keyturn API", "version": "1.0.0", "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": {name: shape.json_schema() for name, shape in sorted(shapes.items())},
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
