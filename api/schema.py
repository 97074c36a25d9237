"""Field specifications of the JSON API.

One description per field both validates what clients send (bodies and query strings) and
becomes the OpenAPI document (api/openapi.py), so the contract and the code cannot drift:
a field the document does not list is refused as unknown (or, where the document says
additionalProperties: true, ignored), and a limit the document states is the limit the code
enforces.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from credentials.material import text_refusal

View = TypeVar("View", bound=Callable[..., Any])


class ValidationFailed(Exception):
    """Input refused, with messages per field: answered as 400 {"errors": {...}}."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("invalid input")
        self.errors = errors


class _FieldError(ValueError):
    pass


@dataclass(frozen=True)
class Field:
    """One value: its JSON type, limits and documentation."""

    type: str  # string, integer, boolean, array or object
    description: str = ""
    required: bool = False
    nullable: bool = False
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    pattern_message: str = "Enter a valid value."
    format: str | None = None
    example: Any = None
    items: Field | None = None
    shape: Shape | None = None  # for a nested object documented as a component
    additional: Field | None = None  # for a free-form map: the type of its values
    write_only: bool = False

    def json_schema(self) -> dict[str, Any]:
        if self.shape is not None:
            return {"$ref": f"#/components/schemas/{self.shape.name}"}
        schema: dict[str, Any] = {"type": self.type}
        for key, value in (
            ("description", self.description), ("format", self.format),
            ("minimum", self.minimum), ("maximum", self.maximum),
            ("minLength", self.min_length), ("maxLength", self.max_length),
            ("pattern", self.pattern), ("example", self.example),
        ):
            if value not in (None, ""):
                schema[key] = value
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.nullable:
            schema["nullable"] = True
        if self.write_only:
            schema["writeOnly"] = True
        if self.items is not None:
            schema["items"] = self.items.json_schema()
        if self.additional is not None:
            schema["additionalProperties"] = self.additional.json_schema()
        return schema

    def clean(self, value: Any) -> Any:
        """The value if it fits this field; raises _FieldError with a message otherwise."""
        if value is None:
            if self.nullable:
                return None
            raise _FieldError("This field may not be null.")
        if self.type == "string":
            return self._clean_string(value)
        if self.type == "integer":
            # JSON booleans are ints in Python; a port of `true` is a client bug, not 1.
            if not isinstance(value, int) or isinstance(value, bool):
                raise _FieldError("Enter a whole number.")
            if self.minimum is not None and value < self.minimum:
                raise _FieldError(f"Enter a number of at least {self.minimum}.")
            if self.maximum is not None and value > self.maximum:
                raise _FieldError(f"Enter a number of at most {self.maximum}.")
            return value
        if self.type == "boolean":
            if not isinstance(value, bool):
                raise _FieldError("Enter true or false.")
            return value
        raise _FieldError("This field cannot be set.")

    def _clean_string(self, value: Any) -> str:
        if not isinstance(value, str):
            raise _FieldError("Enter a string.")
        refusal = text_refusal(value)  # query strings too: bodies are checked when parsed
        if refusal:
            raise _FieldError(refusal)
        if self.max_length is not None and len(value) > self.max_length:
            raise _FieldError(f"Use at most {self.max_length} characters.")
        if self.min_length is not None and len(value) < self.min_length:
            raise _FieldError(f"Use at least {self.min_length} characters.")
        if self.enum and value not in self.enum:
            raise _FieldError(f"Choose one of {', '.join(self.enum)}.")
        if self.pattern is not None and not re.search(self.pattern, value):
            raise _FieldError(self.pattern_message)
        return value

    def clean_text(self, text: str) -> Any:
        """A query-string value: text that may stand for a number."""
        if self.type == "integer":
            if not re.fullmatch(r"[0-9]{1,12}", text):
                raise _FieldError("Enter a whole number.")
            return self.clean(int(text))
        return self.clean(text)


@dataclass(frozen=True)
class Shape:
    """A JSON object: documented as a component schema, validated field by field."""

    name: str
    fields: Mapping[str, Field]
    description: str = ""
    # Fields it does not list are refused as unknown, unless a standard says to ignore them
    # (OAuth 2.0's token endpoint: RFC 6749 section 3.2).
    ignore_unknown: bool = False

    @cached_property
    def names(self) -> tuple[str, ...]:
        """Its fields' names, in the order it documents them."""
        return tuple(self.fields)

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {name: f.json_schema() for name, f in self.fields.items()},
            "additionalProperties": self.ignore_unknown,
        }
        required = [name for name, f in self.fields.items() if f.required]
        if required:
            schema["required"] = required
        if self.description:
            schema["description"] = self.description
        return schema

    def clean(self, data: Any) -> dict[str, Any]:
        """The known fields of `data`, checked; ValidationFailed lists every problem."""
        if not isinstance(data, dict):
            raise ValidationFailed({"body": ["Send a JSON object."]})
        errors: dict[str, list[str]] = {} if self.ignore_unknown else {
            name: ["Unknown field."] for name in data if name not in self.fields
        }
        cleaned: dict[str, Any] = {}
        for name, spec in self.fields.items():
            if name not in data:
                if spec.required:
                    errors[name] = ["This field is required."]
                continue
            try:
                cleaned[name] = spec.clean(data[name])
            except _FieldError as exc:
                errors[name] = [str(exc)]
        if errors:
            raise ValidationFailed(errors)
        return cleaned

    def nested_shapes(self) -> list[Shape]:
        found = []
        for spec in self.fields.values():
            for candidate in (spec.shape, spec.items.shape if spec.items else None):
                if candidate is not None:
                    found.append(candidate)
        return found


@dataclass(frozen=True)
class Param:
    """A path or query parameter."""

    name: str
    location: str  # "path" or "query"
    field: Field

    def json_schema(self) -> dict[str, Any]:
        schema = {k: v for k, v in self.field.json_schema().items() if k != "description"}
        return {
            "name": self.name, "in": self.location,
            "required": self.location == "path" or self.field.required,
            "description": self.field.description, "schema": schema,
        }


def clean_query(params: tuple[Param, ...], query: Mapping[str, str]) -> dict[str, Any]:
    """The query parameters of `params` found in `query`, checked (others are ignored, as
    query strings customarily are)."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for param in params:
        if param.location != "query":
            continue
        if param.name not in query:
            if param.field.required:
                errors[param.name] = ["This parameter is required."]
            continue
        try:
            cleaned[param.name] = param.field.clean_text(query[param.name])
        except _FieldError as exc:
            errors[param.name] = [str(exc)]
    if errors:
        raise ValidationFailed(errors)
    return cleaned


@dataclass(frozen=True)
class Response:
    description: str
    shape: Shape | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # name: description
    media_type: str = "application/json"


@dataclass(frozen=True)
class Operation:
    """What the OpenAPI document says about one method of one route."""

    operation_id: str
    summary: str
    tags: tuple[str, ...]
    responses: Mapping[int, Response]
    description: str = ""
    security: tuple[str, ...] = ()  # any one of these schemes; () means none needed
    security_optional: bool = False
    parameters: tuple[Param, ...] = ()
    body: Shape | None = None
    body_media_types: tuple[str, ...] = ("application/json",)


def documented(operation: Operation) -> Callable[[View], View]:
    """Attaches the operation to its view; api/openapi.py reads it with operation_of."""

    def attach(view: View) -> View:
        view.operation = operation  # type: ignore[attr-defined]
        return view

    return attach


def operation_of(view: Callable[..., Any]) -> Operation:
    """The operation `documented` attached to a view; every handler of the API has one."""
    operation = getattr(view, "operation", None)
    if not isinstance(operation, Operation):
        raise TypeError(f"{view.__name__} is not documented: decorate it with @documented")
    return operation
