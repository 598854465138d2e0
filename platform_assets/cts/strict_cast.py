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
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import pyarrow as pa
else:
    pa = lazy_import("pyarrow")


class StrictCastError(ValueError):
    """A report value does not fit the importer's schema."""


class ReportFormatError(ValueError):
    """A report file's structure is wrong (missing columns, ragged rows, no header, not
    UTF-8)."""


class UnsupportedColumnType(TypeError):
    """An importer's schema declares a column type strict casting does not support."""


# ASCII-only number syntax (also used as Java regexes by Spark importers)
INT_PATTERN = r"[+-]?[0-9]+"
FLOAT_PATTERN = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
NON_FINITE_PATTERN = r"(?i)[+-]?(nan|inf|infinity)"
ALLOW_NON_FINITE = b"allow_non_finite"  # pyarrow field metadata key, value b"true"


def allows_non_finite(field: pa.Field) -> bool:
    return (field.metadata or {}).get(ALLOW_NON_FINITE) == b"true"


def parse_tsv_lines(path: str, text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, fields)]) of a tab-separated file; checks the field count."""
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ReportFormatError(f"{path}: empty file or missing header line")
    header = lines[0].split("\t")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise ReportFormatError(f"{path}: line {number} has {len(fields)} fields, the header has {len(header)}")
        rows.append((number, fields))
    return header, rows


def require_columns(path: str, header: Sequence[str], columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise ReportFormatError(f"{path}: missing column(s) {missing}; header is {list(header)}")


def _cast_value(raw: str, field: pa.Field):
    t = field.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return raw
    if pa.types.is_integer(t):
        if not re.fullmatch(INT_PATTERN, raw):
            raise ValueError("not an ASCII decimal integer")
        value = int(raw)  # no silent truncation: "1.5" failed the pattern
        info = (pa.types.is_signed_integer(t), t.bit_width)
        bound = 2 ** (info[1] - 1) if info[0] else 2 ** info[1]
        if not (-bound if info[0] else 0) <= value < bound:
            raise ValueError(f"out of range for {t}")
        return value
    if pa.types.is_floating(t):
        if re.fullmatch(NON_FINITE_PATTERN, raw):
            if not allows_non_finite(field):
                raise ValueError("NaN/infinity not allowed in this column")
            return float(raw)
        if not re.fullmatch(FLOAT_PATTERN, raw):
            raise ValueError("not an ASCII decimal number")
        number = float(raw)
        if not math.isfinite(number):
            raise ValueError(f"out of range for {t}")
        return number
    if pa.types.is_boolean(t):
        lowered = raw.strip().lower()
        if lowered in {"true", "t", "yes", "1"}:
            return True
        if lowered in {"false", "f", "no", "0"}:
            return False
        raise ValueError("not a boolean")
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
        column = out[name]
        for line, fields in rows:
            raw = fields[position].strip()
            if raw in nulls:
                if not field.nullable:
                    raise StrictCastError(
                        f"{path}: line {line}, column {name!r}: missing value in a non-nullable {field.type} column"
                    )
                column.append(None)
                continue
            try:
                column.append(_cast_value(raw, field))
            except ValueError as e:
                raise StrictCastError(
                    f"{path}: line {line}, column {name!r}: cannot cast {raw!r} to {field.type} ({e})"
                ) from None
    return out
