"""Outputs are confined to the job's `job_input.output_dir` (issue 12, row 3).

A job document names its outputs; before this, any path was read with the platform's
credentials: `..` out of the job's folder, an absolute path through an empty segment,
another bucket, or another job's report (with its real crc) were imported under this
job's id, and a checksum mismatch told the crc of a file outside the job. Each case is a
real import (`dg.materialize`, CTS emulator over HTTP, outputs on disk, Delta lake).
"""

from __future__ import annotations

import dagster as dg
import pytest

from platform_assets.cts.assets import build_import_asset
from platform_assets.cts.checksums import crc64nvme_b64
from platform_assets.cts.importers import checkm2
from tests.cts.importer_world import CHECKM2_IMAGE, checkm2_report, checkm2_row

IMPORTER = checkm2.IMPORTER
ASSET = build_import_asset(IMPORTER)
REPORT = "quality_report.tsv"
PRIVATE = checkm2_report([checkm2_row("secret-genome")])


def failure(result: dg.ExecuteInProcessResult) -> str:
    [event] = [e for e in result.all_events if e.is_step_failure]
    assert event.step_failure_data.error is not None
    return event.step_failure_data.error.message


def hostile_job(world, tmp_path, case: str) -> tuple[str, str]:
    """(job id, the hostile output path) for ``case``; the file it names exists and is
    a valid report with its real crc (except where the case says otherwise)."""
    job_id = f"job-{case}"
    folder = f"{world.bucket}/out/{job_id}"
    world.store.write_bytes(f"{folder}/checkm2.log", b"done\n")  # the job's own folder exists
    crc = crc64nvme_b64(PRIVATE)
    if case in ("dot-dot", "crc-of-outside-file"):
        world.store.write_bytes(f"{world.bucket}/private/{REPORT}", PRIVATE)
        path = f"{folder}/../../private/{REPORT}"
        if case == "crc-of-outside-file":
            crc = crc64nvme_b64(b"something else")
    elif case == "absolute-through-empty-segment":
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / REPORT).write_bytes(PRIVATE)
        path = f"{world.bucket}/{outside}/{REPORT}"  # "bucket//tmp/.../quality_report.tsv"
        assert "//" in path
    elif case == "other-bucket":
        world.store.write_bytes(f"other-bucket/out/{job_id}/{REPORT}", PRIVATE)
        path = f"other-bucket/out/{job_id}/{REPORT}"
    elif case == "another-jobs-output":
        victim = world.add_job(CHECKM2_IMAGE, {REPORT: PRIVATE})
        path = f"{world.bucket}/out/{victim}/{REPORT}"
    elif case == "the-output-dir-itself":
        path = folder
    else:
        raise AssertionError(case)
    world.emulator.add_job(
        job_id=job_id, image_name=CHECKM2_IMAGE, outputs=[{"file": path, "crc64nvme": crc}], output_dir=folder
    )
    return job_id, path


@pytest.mark.parametrize(
    "case",
    [
        "dot-dot",
        "absolute-through-empty-segment",
        "other-bucket",
        "another-jobs-output",
        "the-output-dir-itself",
        "crc-of-outside-file",
    ],
)
def test_an_output_outside_the_jobs_output_dir_is_never_read(cts_world, tmp_path, case):
    job_id, path = hostile_job(cts_world, tmp_path, case)
    result = cts_world.materialize(ASSET, IMPORTER, job_id, raise_on_error=False)

    assert not result.success
    message = failure(result)
    assert "OutsideOutputDir" in message or "InvalidOutputPath" in message
    assert path in message  # names the path
    assert crc64nvme_b64(PRIVATE) not in message  # nothing about the file outside
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]  # permanent
    rows = cts_world.lake.read(IMPORTER.table).to_pylist() if cts_world.lake.exists(IMPORTER.table) else []
    assert [r for r in rows if r["cts_job_id"] == job_id] == []
    assert "odp_import_start" not in cts_world.emulator.meta(job_id)  # refused before anything


def test_outputs_below_the_output_dir_are_imported(cts_world):
    """The rule does not refuse what is legitimately the job's: nested folders, a
    trailing slash on output_dir, names with dots."""
    job_id = "nested-ok"
    folder = f"{cts_world.bucket}/out/{job_id}"
    path = f"{folder}/sub.dir/..hidden/{REPORT}"
    data = checkm2_report([checkm2_row("g1")])
    cts_world.store.write_bytes(path, data)
    cts_world.emulator.add_job(
        job_id=job_id,
        image_name=CHECKM2_IMAGE,
        outputs=[{"file": path, "crc64nvme": crc64nvme_b64(data)}],
        output_dir=folder + "/",
    )
    cts_world.materialize(ASSET, IMPORTER, job_id)
    assert [r["Name"] for r in cts_world.lake.read(IMPORTER.table).to_pylist()] == ["g1"]
