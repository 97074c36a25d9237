"""Model instances from the rows of a prepared query (config.prepared), for every app: the
columns to ask for, in the order Model.from_db takes them, and the instances built from a
row's values, as the ORM builds them (a related object joined in, or None)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from django.db.models import Model

ModelT = TypeVar("ModelT", bound=Model)


def columns(model: type[Model], names: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The attnames of `model`'s concrete fields (all, or those named), in the model's order."""
    return tuple(field.attname for field in model._meta.concrete_fields
                 if names is None or field.attname in names)


def prefixed(prefix: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """The same columns of a related object: `prefix__name`."""
    return tuple(f"{prefix}__{name}" for name in names)


def take(values: Iterator[Any], model: type[ModelT], names: tuple[str, ...]) -> ModelT | None:
    """The instance made of the next len(names) values; None when its key (the first of
    `names`) is NULL: a related object that is not there."""
    row = tuple(next(values) for _ in names)
    return model.from_db("default", names, row) if row[0] is not None else None
