"""CheckM2 genome quality: ``quality_report.tsv`` -> ``cts/checkm2``, keyed by
(``cts_job_id``, ``Name``).

Parsed with pyarrow on the driver: reports are small (one line per genome), so Spark's
start-up cost would dominate. The report is streamed: rows are cast block by block into
Arrow record batches, so memory follows the typed rows, not the text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from platform_assets.cts.importers.base import JOB_ID_COLUMN, ImportContext, Importer
from platform_assets.cts.strict_cast import cast_rows, require_columns
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import pyarrow as pa
else:
    pa = lazy_import("pyarrow")

REPORT_FILE = "quality_report.tsv"


def declared_schema() -> pa.Schema:
    return pa.schema(
        [
            pa.field(JOB_ID_COLUMN, pa.string(), nullable=False),
            pa.field("Name", pa.string(), nullable=False),
            pa.field("Completeness", pa.float64(), nullable=False),
            pa.field("Contamination", pa.float64(), nullable=False),
            pa.field("Completeness_Model_Used", pa.string()),
            pa.field("Translation_Table_Used", pa.int32()),
            pa.field("Coding_Density", pa.float64()),
            pa.field("Contig_N50", pa.int64()),
            pa.field("Average_Gene_Length", pa.float64()),
            pa.field("Genome_Size", pa.int64()),
            pa.field("GC_Content", pa.float64()),
            pa.field("Total_Coding_Sequences", pa.int64()),
            pa.field("Total_Contigs", pa.int64()),
            pa.field("Max_Contig_Length", pa.int64()),
            pa.field("Additional_Notes", pa.string()),
        ]
    )


# Image digests whose reports differ from the current layout. Early CheckM2 builds did
# not report contig counts; their rows get nulls there instead of failing.
DIGEST_HANDLING = {
    "sha256:5d1f2a6b0c3e4f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8": "no_contig_stats",
}
OPTIONAL_BY_VARIANT = {"no_contig_stats": {"Total_Contigs", "Max_Contig_Length"}}


def parse_checkm2(ctx: ImportContext) -> pa.Table:
    variant = IMPORTER.variant_for(ctx.image_digest)
    optional = OPTIONAL_BY_VARIANT.get(variant, set())
    schema = IMPORTER.schema
    report_columns = [n for n in schema.names if n != JOB_ID_COLUMN]
    batches = []
    for path in ctx.outputs.matching(REPORT_FILE):
        with ctx.outputs.open_tsv(path) as report:
            require_columns(path, report.header, [c for c in report_columns if c not in optional])
            for rows in report.blocks():
                values = cast_rows(path, report.header, rows, schema, null_tokens=("", "NA", "N/A"))
                columns = {name: values.get(name, [None] * len(rows)) for name in report_columns}
                columns[JOB_ID_COLUMN] = [ctx.job_id] * len(rows)
                batches.append(pa.RecordBatch.from_pydict(columns, schema=schema))
    return pa.Table.from_batches(batches, schema=schema)


IMPORTER = Importer(
    name="checkm2",
    image_name="ghcr.io/kbasetest/cdm_checkm2",
    keys=(JOB_ID_COLUMN, "Name"),
    declare_schema=declared_schema,
    parse=parse_checkm2,
    digest_handling=DIGEST_HANDLING,
    description="CheckM2 completeness/contamination per genome (quality_report.tsv).",
)
