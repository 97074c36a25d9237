"""Writing many rows' changed columns in one statement, for the scheduled pass's batches.

Django's bulk_update builds a Case(When(pk=..., then=Value(...))) expression per row and
column and resolves each: for a batch of a hundred versions or emails it spends far longer
building the statement than the database spends running it. rows_update writes the same
UPDATE ... SET column = CASE pk WHEN ... END WHERE pk IN (...) directly, with every value
prepared by its field as Django would (and cast on PostgreSQL, as bulk_update casts)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, models, router


def rows_update(rows: Sequence[models.Model], fields: list[str]) -> int:
    """Saves `fields` of `rows` (all of one model) in one UPDATE; returns the rows changed."""
    if not rows:
        return 0
    model = type(rows[0])
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    pk = meta.pk
    keys = [pk.get_db_prep_value(row.pk, connection) for row in rows]
    assignments, params = [], []
    for name in fields:
        field = meta.get_field(name)
        case = f"CASE {quote(pk.column)} " + " ".join(["WHEN %s THEN %s"] * len(rows)) + " END"
        if connection.features.requires_casted_case_in_updates:
            case = f"CAST({case} AS {field.cast_db_type(connection)})"
        assignments.append(f"{quote(field.column)} = {case}")
        for key, row in zip(keys, rows, strict=True):
            params += [key, field.get_db_prep_save(getattr(row, field.attname), connection)]
    placeholders = ", ".join(["%s"] * len(keys))
    # Names are quoted by the backend; every value is a parameter.
    sql = "UPDATE {} SET {} WHERE {} IN ({})".format(  # noqa: S608
        quote(meta.db_table), ", ".join(assignments), quote(pk.column), placeholders)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *keys])
        return cursor.rowcount
