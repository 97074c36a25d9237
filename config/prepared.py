"""Queries of the hot paths (token, API keys, headless reads) compiled once per process.

Building a queryset and compiling it to SQL costs far more than running it on a small indexed
table (1.5 ms against 0.13 ms for the token lookup). A PreparedQuery builds its queryset once
per database connection setting (alias and vendor: SQLite and PostgreSQL write different SQL),
with a stand-in value for each parameter, remembers where the stand-ins landed in the
compiled parameters and which converters its columns need, and from then on runs the same SQL
with each call's values through a plain cursor, converting rows as the ORM would.

    by_prefix = PreparedQuery(
        lambda p: ApiKey.objects.filter(prefix=p["prefix"]).values_list("id", "name")[:1],
        prefix=ApiKey._meta.get_field("prefix"),
    )
    rows = by_prefix.rows(prefix="0a1b2c3d4e5f")

Each parameter names the model field its value is compared with: values are prepared for the
database by that field (a datetime becomes SQLite's text, a UUID its hex), as the ORM does.
The queryset must be a values_list() (rows are tuples); a stand-in that does not reach the
compiled parameters unchanged (the ORM folded it into the SQL) is refused at preparation, and
so is a value computed from one (`p["now"] + window`, `name__icontains=p["q"]`): it would be
compiled in once as a constant. Such a value is a parameter of its own.

On SQLite the code's own constants (every compiled parameter that is not a call's value or
the page: a state, a kind, a flag) are written into the SQL as literals at preparation, where
SQLite's planner sees them: a bound `state IN (?, ?, ?)` or `current.state = ?` cost the token
lookup and the headless page a quarter to three quarters more; and the parameters left are
named (`%(p0)s`), which spares Django's SQLite backend a regular-expression search of the SQL
on every execution. (PostgreSQL, through psycopg's client-side binding, always receives
literals, and its backend does no such search.)

A page (Django writes LIMIT and OFFSET into the SQL itself): a PreparedQuery made with
`paged=True` slices its queryset (or a subquery of it) with PreparedQuery.PAGE, and each call
passes `limit` and `offset`, which become parameters of that LIMIT ... OFFSET.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper
from django.db.models import Field, QuerySet
from django.db.models.fields import DateTimeField, IntegerField, UUIDField
from django.db.models.query import ValuesListIterable
from django.utils.dateparse import parse_datetime

_STAND_IN_EPOCH = datetime(1901, 2, 3, 4, 5, 6, tzinfo=UTC)
_COMPUTED_BEFORE_YEAR = 1912  # a stand-in time moved by up to ten years is still before it
_STAND_IN_TEXT = "\x1fkeyturn-prepared-"


class PreparationError(Exception):
    """A queryset a PreparedQuery cannot prepare (a mistake in code, raised at first use)."""


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]  # the compiled parameters; stand-ins at `slots`
    slots: tuple[tuple[int, str], ...]  # (position in params, parameter name)
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column, its conversion)
    page_slot: int | None  # position of LIMIT's parameter (OFFSET's follows), if paged
    # SQLite: the parameters' names (p0, p1, ...), written in the SQL as %(p0)s ...
    names: tuple[str, ...] | None = None


# The slice a paged query's builder takes its page with: numbers no real page has.
_PAGE_LOW, _PAGE_HIGH = 700_000_001, 1_000_000_008


class PreparedQuery:
    PAGE = slice(_PAGE_LOW, _PAGE_HIGH)

    def __init__(self, build: Callable[[dict[str, Any]], QuerySet], *, paged: bool = False,
                 **params: Field) -> None:
        self.build = build
        self.paged = paged
        self.params = params
        self._compiled: dict[tuple[str, str], _Compiled] = {}
        self._lock = threading.Lock()

    def rows(self, *, using: str = "default", limit: int | None = None, offset: int = 0,
             **values: Any) -> list[tuple[Any, ...]]:
        """The rows for these values (every declared parameter, no other); a paged query
        takes `limit` and `offset` too."""
        if self.paged != (limit is not None):
            raise TypeError("a paged query takes a limit, another none")
        if set(values) != set(self.params):
            raise TypeError(f"expected values for {sorted(self.params)}, got {sorted(values)}")
        connection = connections[using]
        compiled = self._compiled.get((using, connection.vendor))
        if compiled is None:
            compiled = self._prepare(using)
        params = list(compiled.params)
        if compiled.page_slot is not None:
            params[compiled.page_slot:compiled.page_slot + 2] = [int(limit), int(offset)]
        for position, name in compiled.slots:
            params[position] = self.params[name].get_db_prep_value(
                values[name], connection, prepared=False
            )
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params if compiled.names is None
                           else dict(zip(compiled.names, params, strict=True)))
            rows = cursor.fetchall()
        return _converted(rows, compiled.converters) if compiled.converters \
            else [tuple(row) for row in rows]

    def _prepare(self, using: str) -> _Compiled:
        connection = connections[using]
        stand_ins = {name: _stand_in(field, n) for n, (name, field) in
                     enumerate(self.params.items())}
        queryset = self.build(stand_ins)
        if queryset._iterable_class is not ValuesListIterable:
            raise PreparationError("a PreparedQuery's queryset must be a values_list()")
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        params = list(params)
        page_slot = None
        if self.paged:
            sql, page_slot = _parametrize_page(sql, connection)
            params[page_slot:page_slot] = [None, None]
        prepared = {name: self.params[name].get_db_prep_value(value, connection, prepared=False)
                    for name, value in stand_ins.items()}
        slots = tuple((position, name) for position, param in enumerate(params)
                      for name, stand_in in prepared.items() if param == stand_in)
        missing = set(self.params) - {name for _, name in slots}
        if missing:
            raise PreparationError(f"parameters {sorted(missing)} did not reach the SQL as "
                                   "parameters; compare them with a plain field lookup")
        taken = {position for position, _ in slots}
        computed = [param for position, param in enumerate(params)
                    if position not in taken and _computed_from_stand_in(param)]
        if computed:
            raise PreparationError(f"values computed from parameters ({computed!r}) would be "
                                   "compiled in as constants; make each a parameter of its own")
        names = None
        if connection.vendor == "sqlite":
            sql, params, slots, page_slot, names = _sqlite_statement(sql, params, slots,
                                                                     page_slot)
        columns = [column for column, _, _ in compiler.select[:compiler.col_count]]
        converters = tuple(
            (position, _conversion(functions, expression, connection))
            for position, (functions, expression) in compiler.get_converters(columns).items()
        )
        compiled = _Compiled(sql, tuple(params), slots, converters, page_slot, names)
        with self._lock:
            self._compiled[(using, connection.vendor)] = compiled
        return compiled


def _parametrize_page(sql: str, connection: Any) -> tuple[str, int]:
    """The SQL with PAGE's LIMIT and OFFSET as parameters, and the position of the first."""
    written = connection.ops.limit_offset_sql(_PAGE_LOW, _PAGE_HIGH)
    if sql.count(written) != 1:
        raise PreparationError("a paged query must be sliced once with PreparedQuery.PAGE")
    before, after = sql.split(written)
    return f"{before}LIMIT %s OFFSET %s{after}", before.count("%s")


# Django's SQLite backend turns each of these into a "?" (django.db.backends.sqlite3.base).
_PLACEHOLDER = re.compile(r"(?<!%)%s")


def _sqlite_statement(
    sql: str, params: list[Any], slots: tuple[tuple[int, str], ...], page_slot: int | None,
) -> tuple[str, list[Any], tuple[tuple[int, str], ...], int | None, tuple[str, ...] | None]:
    """The SQL for SQLite, the parameters it keeps, their new positions and their names:

    - the code's own constants (a state, a kind, a flag: every compiled parameter that is
      not a call's value or the page) are written in as SQLite literals. SQLite plans around
      a literal better than around a parameter whose value it cannot know when it prepares
      the statement: the headless page's join `current.state = 'current'` costs a quarter
      less than `current.state = ?`;
    - the parameters left are named, %(p0)s ...: Django's backend finds a query's "%s"
      with a regular expression on every execution (146 µs for a detail page's 17,000
      characters of SQL), and named ones with Python's % operator, in a tenth of that."""
    pieces = _PLACEHOLDER.split(sql)
    if len(pieces) != len(params) + 1:  # not as Django's backend would read it: leave as is
        return sql, params, slots, page_slot, None
    called = {position for position, _ in slots}
    if page_slot is not None:
        called |= {page_slot, page_slot + 1}
    written, kept, moved = [pieces[0]], [], {}
    for position, param in enumerate(params):
        literal = None if position in called else _sqlite_literal(param)
        if literal is None:
            moved[position] = len(kept)
            literal = f"%(p{len(kept)})s"
            kept.append(param)
        written += [literal, pieces[position + 1]]
    return ("".join(written), kept, tuple((moved[position], name) for position, name in slots),
            None if page_slot is None else moved[page_slot],
            tuple(f"p{n}" for n in range(len(kept))))


def _sqlite_literal(value: Any) -> str | None:
    """`value` as an SQLite literal that compares as the parameter would, or None to keep it
    a parameter. Texts are quoted by doubling quotes (SQLite has no other escape) and any %
    doubled (the backend reads %% as %)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, str) and "\x00" not in value:
        text = str.__str__(value)  # an enum's text, as sqlite3 binds it
        return "'" + text.replace("'", "''").replace("%", "%%") + "'"
    return None


def _stand_in(field: Field, n: int) -> Any:
    """A value no real call passes, of the type the field prepares."""
    while field.is_relation:  # a foreign key takes its target's values
        field = field.target_field
    if isinstance(field, DateTimeField):
        return _STAND_IN_EPOCH + timedelta(microseconds=n + 1)
    if isinstance(field, UUIDField):
        return uuid.UUID(int=0xC0FFEE00 + n)
    if isinstance(field, IntegerField):
        return -1_900_000_001 - n  # within every backend's integer range
    return f"{_STAND_IN_TEXT}{n}-{uuid.uuid4().hex}\x1f"


def _computed_from_stand_in(param: Any) -> bool:
    """Whether a compiled parameter that is no stand-in was worked out from one: a time near
    the stand-ins' 1901 (as a datetime, or SQLite's text), a number near theirs, a text
    holding one. No value the product compares with is that old or that negative."""
    if isinstance(param, date):
        return param.year < _COMPUTED_BEFORE_YEAR
    if isinstance(param, bool):
        return False
    if isinstance(param, int):
        return -1_950_000_000 < param < -1_850_000_000
    if isinstance(param, str):
        if _STAND_IN_TEXT in param:
            return True
        moment = _parsed_datetime(param)
        return moment is not None and moment.year < _COMPUTED_BEFORE_YEAR
    return False


def _parsed_datetime(text: str) -> datetime | None:
    try:
        return parse_datetime(text)
    except ValueError:
        return None


def _converted(rows: list[Any],
               converters: tuple[tuple[int, Callable[[Any], Any]], ...]) -> list[tuple[Any, ...]]:
    """Rows converted as SQLCompiler.apply_converters converts them, column by column."""
    if not rows:
        return []
    columns: list[Any] = list(zip(*rows, strict=True))
    for position, convert in converters:
        columns[position] = map(convert, columns[position])
    return list(zip(*columns, strict=True))


# SQLite's conversions of the columns most queries read (the others are called as the ORM
# calls them): the same results (tests/test_prepared.py compares them), without Django's
# per-value lookups of settings and time zone.
_SQLITE = SQLiteWrapper.ops_class


def _sqlite_uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


def _sqlite_boolean(value: Any) -> Any:
    return bool(value) if value in (1, 0) else value


def _sqlite_datetime(zone: tzinfo | None) -> Callable[[Any], datetime | None]:
    def convert(value: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            value = parse_datetime(value)
        if zone is None or value.utcoffset() is not None:
            return value
        return value.replace(tzinfo=zone)
    return convert


def _conversion(functions: list[Callable[..., Any]], expression: Any,
                connection: Any) -> Callable[[Any], Any]:
    """A column's converters as one function of its value."""
    steps = []
    for function in functions:
        method = getattr(function, "__func__", None)
        if method is _SQLITE.convert_uuidfield_value:
            steps.append(_sqlite_uuid)
        elif method is _SQLITE.convert_booleanfield_value:
            steps.append(_sqlite_boolean)
        elif method is _SQLITE.convert_datetimefield_value:
            steps.append(_sqlite_datetime(connection.timezone if settings.USE_TZ else None))
        else:
            steps.append(partial(_called_as_the_orm_calls, function, expression, connection))
    if len(steps) == 1:
        return steps[0]
    return partial(_in_turn, steps)


def _called_as_the_orm_calls(function: Callable[..., Any], expression: Any, connection: Any,
                             value: Any) -> Any:
    return function(value, expression, connection)


def _in_turn(steps: list[Callable[[Any], Any]], value: Any) -> Any:
    for step in steps:
        value = step(value)
    return value
