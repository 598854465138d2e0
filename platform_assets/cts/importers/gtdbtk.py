"""GTDB-Tk taxonomy: ``gtdbtk.{bac120,ar53}.summary.tsv`` -> ``cts/gtdbtk``, keyed by
(``cts_job_id``, ``user_genome``). Parsed with Spark (the path for heavy reports).

Spark casts a bad value to null (or, in ANSI mode, fails without saying where), and
accepts ``NaN``. Here the lines are split by the shared strict ``TsvReader`` (header and
field-count checks), every column reaches Spark as text, must match the same ASCII
number syntax as ``strict_cast`` and is cast with ``try_cast``; any value that does not
fit fails the import naming file, line, column and value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from platform_assets.cts.importers.base import JOB_ID_COLUMN, ImportContext, Importer
from platform_assets.cts.strict_cast import (
    FLOAT_PATTERN,
    INT_PATTERN,
    VALUE_CHARS,
    StrictCastError,
    require_columns,
)
from resources.cts.text import printable
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import pyarrow as pa
else:
    pa = lazy_import("pyarrow")

REPORT_FILES = ("gtdbtk.bac120.summary.tsv", "gtdbtk.ar53.summary.tsv")
NULL_TOKENS = ("", "N/A")


def declared_schema() -> pa.Schema:
    return pa.schema(
        [
            pa.field(JOB_ID_COLUMN, pa.string(), nullable=False),
            pa.field("user_genome", pa.string(), nullable=False),
            pa.field("marker_set", pa.string(), nullable=False),
            pa.field("classification", pa.string(), nullable=False),
            pa.field("closest_genome_reference", pa.string()),
            pa.field("closest_genome_ani", pa.float64()),
            pa.field("msa_percent", pa.float64()),
            pa.field("translation_table", pa.int32()),
            pa.field("red_value", pa.float64()),
            pa.field("warnings", pa.string()),
        ]
    )


NOT_IN_REPORT = (JOB_ID_COLUMN, "marker_set")  # added by the importer, not read from the file
SPARK_TYPES = {"string": "STRING", "double": "DOUBLE", "int32": "INT"}  # by str(pyarrow type)
SYNTAX = {"double": FLOAT_PATTERN, "int32": INT_PATTERN}  # text a number must match


def _marker_set(path: str) -> str:
    return path.rsplit("/", 1)[-1].split(".")[1]  # gtdbtk.<marker_set>.summary.tsv


def parse_gtdbtk(ctx: ImportContext) -> pa.Table:
    from functools import reduce

    from pyspark.sql import functions as F

    spark = ctx.spark
    schema = IMPORTER.schema
    report_columns = [n for n in schema.names if n not in NOT_IN_REPORT]
    frames = []
    for path in ctx.outputs.matching(*REPORT_FILES):
        with ctx.outputs.open_tsv(path) as report:
            header = report.header
            require_columns(path, header, report_columns)
            rows = report.rows()
        fields = F.col("_fields")
        frame = spark.createDataFrame(rows, "_line INT, _fields ARRAY<STRING>").select(
            F.lit(path).alias("_file"),
            "_line",
            F.lit(ctx.job_id).alias(JOB_ID_COLUMN),
            F.lit(_marker_set(path)).alias("marker_set"),
            *[F.try_element_at(fields, F.lit(header.index(c) + 1)).alias(c) for c in report_columns],
        )
        frames.append(frame)
    raw = reduce(lambda a, b: a.unionByName(b), frames)

    typed, bad = [], []
    for name in schema.names:
        field = schema.field(name)
        text = F.trim(F.col(name))
        is_null = text.isNull() | text.isin(*NULL_TOKENS)
        value = F.when(is_null, F.lit(None)).otherwise(
            F.expr(f"try_cast(trim(`{name}`) AS {SPARK_TYPES[str(field.type)]})")
        )
        typed.append(value.alias(name))
        syntax = SYNTAX.get(str(field.type))
        uncastable = value.isNull() if syntax is None else (value.isNull() | ~text.rlike(f"^{syntax}$"))
        problem = (uncastable & ~is_null) if field.nullable else (is_null | uncastable)
        bad.append(F.when(problem, F.lit(name)))
    checked = raw.select(
        "_file",
        "_line",
        *typed,
        F.coalesce(*bad).alias("_bad_column"),
        *[F.col(n).alias(f"_raw_{n}") for n in schema.names],
    )
    offender = checked.where(F.col("_bad_column").isNotNull()).orderBy("_file", "_line").limit(1).collect()
    if offender:
        row = offender[0]
        column = row["_bad_column"]
        raise StrictCastError(
            f"{row['_file']}: line {row['_line']}, column {column!r}: cannot cast "
            f"{printable(row['_raw_' + column], VALUE_CHARS)} to {schema.field(column).type}"
            + ("" if schema.field(column).nullable else " (non-nullable column)")
        )
    return checked.select(*schema.names).toArrow().cast(schema)


IMPORTER = Importer(
    name="gtdbtk",
    image_name="ghcr.io/kbasetest/cdm_gtdbtk",
    keys=(JOB_ID_COLUMN, "user_genome"),
    declare_schema=declared_schema,
    parse=parse_gtdbtk,
    uses_spark=True,
    description="GTDB-Tk classification per genome (bac120/ar53 summary.tsv), parsed with Spark.",
)
