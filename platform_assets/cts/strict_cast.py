"""Strict typing of tabular report files: every value casts, or the import fails.

The original processor let Spark turn uncastable values into nulls. Here a value that
cannot be cast to its declared type fails the import with an error naming the file, the
line and the column (and the value). Empty cells and declared null tokens (e.g. ``N/A``)
become null only where the schema allows nulls.

Numbers must be plain ASCII decimal text (:data:`INT_PATTERN`, :data:`FLOAT_PATTERN`)
before Python (or Spark) casts them: ``int()``/``float()`` alone would accept ``1_000``,
Arabic-Indic digits or ``nan``. ``nan``/``inf`` are rejected unless the schema field
declares them (field metadata ``allow_non_finite=true``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from resources.cts.text import clip, printable
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import pyarrow as pa
else:
    pa = lazy_import("pyarrow")


class StrictCastError(ValueError):
    """A report value does not fit the importer's schema."""


class ReportFormatError(ValueError):
    """A report file's structure is wrong (missing or duplicated columns, ragged rows, no
    header, not UTF-8)."""


class UnsupportedColumnType(TypeError):
    """An importer's schema declares a column type strict casting does not support."""


# ASCII-only number syntax (also used as Java regexes by Spark importers)
INT_PATTERN = r"[+-]?[0-9]+"
FLOAT_PATTERN = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
NON_FINITE_PATTERN = r"(?i)[+-]?(nan|inf|infinity)"
ALLOW_NON_FINITE = b"allow_non_finite"  # pyarrow field metadata key, value b"true"
# only ASCII whitespace around a value is ignored (str.strip() would also eat U+0085,
# U+2028, record separators...)
ASCII_WHITESPACE = " \t\n\r\x0b\x0c"
VALUE_CHARS = 100  # of an offending value quoted in an error


def allows_non_finite(field: pa.Field) -> bool:
    return (field.metadata or {}).get(ALLOW_NON_FINITE) == b"true"


def require_columns(path: str, header: Sequence[str], columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise ReportFormatError(f"{path}: missing column(s) {missing}; header is {clip(repr(list(header)), 500)}")


_INT = re.compile(INT_PATTERN)
_FLOAT = re.compile(FLOAT_PATTERN)
_NON_FINITE = re.compile(NON_FINITE_PATTERN)
_TRUE, _FALSE = {"true", "t", "yes", "1"}, {"false", "f", "no", "0"}


def caster_for(field: pa.Field) -> Callable[[str], object]:
    """The function casting one raw value to ``field``'s type (``ValueError`` saying why
    it does not fit), chosen once per column: the type is not inspected per value."""
    t = field.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return str
    if pa.types.is_integer(t):
        signed = pa.types.is_signed_integer(t)
        low, high = (-(2 ** (t.bit_width - 1)), 2 ** (t.bit_width - 1)) if signed else (0, 2**t.bit_width)

        def integer(raw: str) -> int:
            if not _INT.fullmatch(raw):
                raise ValueError("not an ASCII decimal integer")
            value = int(raw)  # no silent truncation: "1.5" failed the pattern
            if not low <= value < high:
                raise ValueError(f"out of range for {t}")
            return value

        return integer
    if pa.types.is_floating(t):
        non_finite_allowed = allows_non_finite(field)

        def floating(raw: str) -> float:
            if _NON_FINITE.fullmatch(raw):
                if not non_finite_allowed:
                    raise ValueError("NaN/infinity not allowed in this column")
                return float(raw)
            if not _FLOAT.fullmatch(raw):
                raise ValueError("not an ASCII decimal number")
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError(f"out of range for {t}")
            return number

        return floating
    if pa.types.is_boolean(t):

        def boolean(raw: str) -> bool:
            lowered = raw.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("not a boolean")

        return boolean
    raise UnsupportedColumnType(f"unsupported column type {t} for column {field.name!r}")


def cast_rows(
    path: str,
    header: Sequence[str],
    rows: Sequence[tuple[int, Sequence[str]]],
    schema: pa.Schema,
    null_tokens: Iterable[str] = ("",),
) -> dict[str, list]:
    """Cast the columns of ``schema`` found in ``header``; values per column name.

    Raises :class:`StrictCastError` naming file, line, column and value on the first
    value that does not cast, or on a missing value in a non-nullable column.
    """
    nulls = set(null_tokens)
    index = {name: header.index(name) for name in schema.names if name in header}
    out: dict[str, list] = {name: [] for name in index}
    for name, position in index.items():
        field = schema.field(name)
        cast = caster_for(field)
        column = out[name]
        for line, fields in rows:
            raw = fields[position].strip(ASCII_WHITESPACE)
            if raw in nulls:
                if not field.nullable:
                    raise StrictCastError(
                        f"{path}: line {line}, column {name!r}: missing value in a non-nullable {field.type} column"
                    )
                column.append(None)
                continue
            try:
                column.append(cast(raw))
            except ValueError as e:
                raise StrictCastError(
                    f"{path}: line {line}, column {name!r}: cannot cast {printable(raw, VALUE_CHARS)} "
                    f"to {field.type} ({e})"
                ) from None
    return out
