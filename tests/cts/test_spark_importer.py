"""The Spark importer path (GTDB-Tk): local Spark, strict casts, MERGE into Delta."""

from __future__ import annotations

import pytest

from platform_assets.cts.assets import build_import_asset
from platform_assets.cts.importers import gtdbtk
from resources.cts.spark import SparkResource, spark_config
from tests.cts.importer_world import run_materializations

pytestmark = pytest.mark.slow  # a Spark session (JVM)

IMPORTER = gtdbtk.IMPORTER
ASSET = build_import_asset(IMPORTER)
HEADER = [
    "user_genome",
    "classification",
    "closest_genome_reference",
    "closest_genome_ani",
    "msa_percent",
    "translation_table",
    "red_value",
    "warnings",
    "other_related_references(genome_id,species_name,radius,ANI,AF)",
]


def summary(rows: list[list[str]]) -> bytes:
    return ("\n".join("\t".join(r) for r in [HEADER, *rows]) + "\n").encode()


BAC = summary(
    [
        [
            "g1",
            "d__Bacteria;p__Pseudomonadota;s__Escherichia coli",
            "GCF_000005845.2",
            "98.76",
            "93.4",
            "11",
            "N/A",
            "N/A",
            "N/A",
        ],
        ["g2", "d__Bacteria;p__Bacillota;s__", "N/A", "N/A", "88.0", "11", "0.93", "N/A", "N/A"],
    ]
)
AR = summary(
    [
        [
            "a1",
            "d__Archaea;p__Halobacteriota;s__",
            "N/A",
            "N/A",
            "71.5",
            "11",
            "0.87",
            "Genome has more than 10% of markers with multiple hits",
            "N/A",
        ]
    ]
)


@pytest.fixture(scope="module")
def spark():
    resource = SparkResource(spark_config=spark_config("local[1]"))
    yield resource
    resource.spark_session.stop()


def failure_message(result) -> str:
    [failure] = [e for e in result.all_events if e.is_step_failure]
    return failure.step_failure_data.error.message


def test_spark_importer_imports_both_marker_sets(cts_world, spark):
    job_id = cts_world.add_job(
        gtdbtk.IMPORTER.image_name, {"gtdbtk.bac120.summary.tsv": BAC, "gtdbtk.ar53.summary.tsv": AR}
    )
    result = cts_world.materialize(ASSET, IMPORTER, job_id, spark=spark)
    [materialization] = run_materializations(cts_world.instance, result.run_id)
    assert materialization.metadata["rows"].value == 3

    rows = {r["user_genome"]: r for r in cts_world.lake.read(IMPORTER.table).to_pylist()}
    assert sorted(rows) == ["a1", "g1", "g2"]
    assert rows["g1"]["closest_genome_ani"] == 98.76 and rows["g1"]["red_value"] is None
    assert rows["g2"]["closest_genome_reference"] is None and rows["g2"]["red_value"] == 0.93
    assert rows["a1"]["marker_set"] == "ar53" and rows["g1"]["marker_set"] == "bac120"
    assert rows["a1"]["translation_table"] == 11 and rows["a1"]["cts_job_id"] == job_id


def test_spark_bad_cast_is_an_error_naming_file_line_and_column(cts_world, spark):
    bad = summary(
        [
            ["g1", "d__Bacteria;s__", "GCF_1", "98.7", "93.4", "11", "N/A", "N/A", "N/A"],
            ["g2", "d__Bacteria;s__", "GCF_2", "about 97", "93.4", "11", "N/A", "N/A", "N/A"],
        ]
    )
    job_id = cts_world.add_job(gtdbtk.IMPORTER.image_name, {"gtdbtk.bac120.summary.tsv": bad})
    result = cts_world.materialize(ASSET, IMPORTER, job_id, spark=spark, raise_on_error=False)
    message = failure_message(result)
    assert (
        f"{job_id}/gtdbtk.bac120.summary.tsv: line 3, column 'closest_genome_ani': cannot cast 'about 97' to double"
    ) in message
    assert cts_world.lake.version(IMPORTER.table) is None


def test_spark_missing_required_value_and_ragged_line(cts_world, spark):
    missing = summary([["g1", "N/A", "GCF_1", "98.7", "93.4", "11", "N/A", "N/A", "N/A"]])
    job_id = cts_world.add_job(gtdbtk.IMPORTER.image_name, {"gtdbtk.ar53.summary.tsv": missing})
    message = failure_message(cts_world.materialize(ASSET, IMPORTER, job_id, spark=spark, raise_on_error=False))
    assert "line 2, column 'classification'" in message and "non-nullable" in message

    ragged = BAC + b"g9\td__Bacteria\n"
    job_id = cts_world.add_job(gtdbtk.IMPORTER.image_name, {"gtdbtk.bac120.summary.tsv": ragged})
    message = failure_message(cts_world.materialize(ASSET, IMPORTER, job_id, spark=spark, raise_on_error=False))
    assert "line 4 has 2 fields, the header has 9" in message
