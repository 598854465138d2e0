"""Strict typing: only plain ASCII decimal numbers cast; nan/inf only where declared."""

from __future__ import annotations

import pyarrow as pa
import pytest

from platform_assets.cts.strict_cast import ALLOW_NON_FINITE, StrictCastError, cast_rows

SCHEMA = pa.schema([pa.field("n", pa.int64()), pa.field("x", pa.float64())])


def cast(column: str, raw: str, schema: pa.Schema = SCHEMA) -> list:
    header = schema.names
    fields = [raw if name == column else "" for name in header]
    return cast_rows("bkt/r.tsv", header, [(2, fields)], schema)[column]


@pytest.mark.parametrize("raw", ["1_000", "١٢", "１２", "1.0", "0x10", "1e3", "+-1"])
def test_integers_are_ascii_decimal_only(raw):
    with pytest.raises(StrictCastError, match=r"bkt/r.tsv: line 2, column 'n': cannot cast"):
        cast("n", raw)


@pytest.mark.parametrize("raw", ["1_0.5", "١٢", "nan", "NaN", "inf", "-Infinity", "1e999", "1,5", "0x1p3"])
def test_floats_are_ascii_decimal_and_finite(raw):
    with pytest.raises(StrictCastError, match=r"column 'x': cannot cast"):
        cast("x", raw)


@pytest.mark.parametrize("raw,value", [("12", 12), ("-7", -7), ("+3", 3), ("007", 7)])
def test_valid_integers(raw, value):
    assert cast("n", raw) == [value]


@pytest.mark.parametrize("raw,value", [("1.5", 1.5), ("-2e-3", -0.002), (".5", 0.5), ("5.", 5.0), ("12", 12.0)])
def test_valid_floats(raw, value):
    assert cast("x", raw) == [value]


def test_non_finite_values_only_where_the_schema_declares_them():
    schema = pa.schema([pa.field("n", pa.int64()), pa.field("x", pa.float64(), metadata={ALLOW_NON_FINITE: b"true"})])
    [nan] = cast("x", "nan", schema)
    assert nan != nan
    assert cast("x", "-inf", schema) == [float("-inf")]
