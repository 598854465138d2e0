"""The strict, streaming TSV reader and what reading a report may cost (issue 12, rows 6, 7).

Row 6: records split only at `\\n`/`\\r\\n` (`str.splitlines()` also split at U+2028,
U+0085, FF, RS... inside valid fields, with wrong line numbers); a duplicated header
column is an error (it used to silently read the first copy).
Row 7: a report larger than the configured maximum is refused from its size before a
byte is read (a 34 MB report cost 437 MB of memory); `ENAMETOOLONG` and other causes that
no retry can fix fail at once instead of being retried as transient.
"""

from __future__ import annotations

import errno

import dagster as dg
import pytest

from platform_assets.cts.assets import build_import_asset
from platform_assets.cts.errors import is_permanent
from platform_assets.cts.importers import checkm2
from platform_assets.cts.strict_cast import ReportFormatError
from platform_assets.cts.tsv import TsvReader, parse_tsv
from resources.cts.client import CtsJobNotFound, CtsUnavailable
from resources.cts.outputs import CtsObjectStore, InvalidOutputPath, parse_s3_path
from tests.cts.importer_world import CHECKM2_IMAGE, checkm2_report, checkm2_row

IMPORTER = checkm2.IMPORTER
ASSET = build_import_asset(IMPORTER)
SEPARATORS_INSIDE_FIELDS = ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\r"]


def failure(result: dg.ExecuteInProcessResult) -> str:
    [event] = [e for e in result.all_events if e.is_step_failure]
    assert event.step_failure_data.error is not None
    return event.step_failure_data.error.message


def retried(result: dg.ExecuteInProcessResult) -> bool:
    return any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)


@pytest.mark.parametrize("separator", SEPARATORS_INSIDE_FIELDS, ids=[hex(ord(c)) for c in SEPARATORS_INSIDE_FIELDS])
def test_only_newlines_end_records(separator):
    data = f"a\tb\r\nx{separator}y\t1\n{separator}last\t2{separator}2\n\nend\t3".encode()
    header, rows = parse_tsv("bkt/r.tsv", data)
    assert header == ["a", "b"]
    assert rows == [(2, [f"x{separator}y", "1"]), (3, [f"{separator}last", f"2{separator}2"]), (5, ["end", "3"])]


def test_line_numbers_count_newlines_only():
    data = "a\tb\nx\u2028x\t1\nragged\n".encode()
    with pytest.raises(ReportFormatError, match=r"bkt/r.tsv: line 3 has 1 fields, the header has 2"):
        parse_tsv("bkt/r.tsv", data)


def test_a_duplicated_header_column_is_an_error():
    with pytest.raises(ReportFormatError, match=r"column\(s\) \['Name'\] occur more than once"):
        parse_tsv("bkt/r.tsv", b"Name\tCompleteness\tName\nx\t1\ty\n")


@pytest.mark.parametrize("data", [b"", b"\n", b"  \nName\n"], ids=["empty", "newline", "blank-first-line"])
def test_no_header_is_an_error(data):
    with pytest.raises(ReportFormatError, match="empty file or missing header line"):
        parse_tsv("bkt/r.tsv", data)


def test_a_line_that_is_not_utf8_is_named():
    with pytest.raises(ReportFormatError, match=r"line 3 is not UTF-8 text"):
        parse_tsv("bkt/r.tsv", b"a\n\xc3\xa9\n\xff\n")


def test_records_may_span_chunks_and_rows_come_in_blocks_while_reading():
    """Streaming: the first block is handed out before the last chunk is read."""
    consumed = []

    def chunks():
        yield b"h\t"  # the header spans two chunks
        yield b"k\r\n"
        for i in range(100):
            consumed.append(i)
            yield f"v{i}\tw\n".encode()

    reader = TsvReader("bkt/r.tsv", chunks(), rows_per_block=10)
    assert reader.header == ["h", "k"]
    first = next(reader.blocks())
    assert first == [(i + 2, [f"v{i}", "w"]) for i in range(10)]
    assert len(consumed) < 100


def test_separators_inside_fields_are_imported_as_data(cts_world):
    name = "genome\u2028one\x1e"
    notes = "see\x85below\x0cpage"
    report = checkm2_report([checkm2_row(name, Additional_Notes=notes), checkm2_row("genome_2")])
    job_id = cts_world.add_job(CHECKM2_IMAGE, {"quality_report.tsv": report.replace(b"\n", b"\r\n")})
    cts_world.materialize(ASSET, IMPORTER, job_id)
    rows = {r["Name"]: r for r in cts_world.lake.read(IMPORTER.table).to_pylist()}
    assert set(rows) == {name, "genome_2"} and rows[name]["Additional_Notes"] == notes


def test_a_report_with_a_duplicated_column_is_refused(cts_world):
    report = checkm2_report([checkm2_row("g1")]).decode().splitlines()
    report = [line + "\t" + line.split("\t")[1] for line in report]  # "Completeness" twice
    job_id = cts_world.add_job(CHECKM2_IMAGE, {"quality_report.tsv": "\n".join(report).encode()})
    result = cts_world.materialize(ASSET, IMPORTER, job_id, raise_on_error=False)
    assert "['Completeness'] occur more than once in the header" in failure(result)
    assert not retried(result) and cts_world.lake.version(IMPORTER.table) is None


@pytest.mark.parametrize("where", ["disk", "s3"])
def test_a_report_over_the_maximum_is_refused_before_it_is_read(request, where):
    """The size comes from the object (stat / GetObject's length): a report whose very
    first bytes are not UTF-8 fails as too large, never as unreadable."""
    world = request.getfixturevalue("cts_world" if where == "disk" else "s3_cts_world")
    report = b"\xff\xfe" + checkm2_report([checkm2_row(f"g{i}") for i in range(50)])
    job_id = world.add_job(CHECKM2_IMAGE, {"quality_report.tsv": report})
    small = CtsObjectStore(url=world.store.url, aws_endpoint_url=world.store.aws_endpoint_url, max_file_bytes=1_000)
    result = world.materialize(ASSET, IMPORTER, job_id, raise_on_error=False, cts_outputs=small)
    message = failure(result)
    assert "OutputTooLarge" in message and f"is {len(report):,} bytes, more than the 1,000" in message
    assert not retried(result)


def test_a_path_too_long_for_the_file_system_fails_at_once(cts_world):
    """`ENAMETOOLONG` cannot go away by retrying: permanent, naming the cause (it used to
    be retried as a transient `OSError`)."""
    job_id = "long-name"
    folder = f"{cts_world.bucket}/out/{job_id}"
    path = f"{folder}/{'n' * 300}/quality_report.tsv"  # a 300-byte segment: fine on S3, not on disk
    cts_world.store.write_bytes(f"{folder}/checkm2.log", b"done\n")  # the job's folder exists
    cts_world.emulator.add_job(
        job_id=job_id,
        image_name=CHECKM2_IMAGE,
        outputs=[{"file": path, "crc64nvme": "AAAAAAAAAAA="}],
        output_dir=folder,
    )
    result = cts_world.materialize(ASSET, IMPORTER, job_id, raise_on_error=False)
    assert "File name too long" in failure(result)
    assert not retried(result)


def test_s3_key_limits_are_checked_before_any_request():
    with pytest.raises(InvalidOutputPath, match="longer than S3's 1024 bytes"):
        parse_s3_path("bkt/" + "k" * 1025)
    assert parse_s3_path("bkt/" + "k" * 1024).key == "k" * 1024


@pytest.mark.parametrize(
    "error,permanent",
    [
        (OSError(errno.ENAMETOOLONG, "File name too long"), True),
        (OSError(errno.ENOTDIR, "Not a directory"), True),
        (PermissionError(errno.EACCES, "Permission denied"), True),
        (OSError(errno.EIO, "I/O error"), False),
        (ConnectionResetError(errno.ECONNRESET, "reset"), False),
        (TimeoutError(), False),
        (CtsUnavailable("down"), False),
        (CtsJobNotFound("gone", 404, 40040), True),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), True),
        (KeyError("unknown cause"), False),
    ],
)
def test_errors_are_classified_by_cause(error, permanent):
    assert is_permanent(error) is permanent


@pytest.mark.parametrize(
    "code,status,permanent",
    [
        ("SlowDown", 503, False),
        ("InternalError", 500, False),
        ("AccessDenied", 403, True),
        ("KeyTooLongError", 400, True),
    ],
)
def test_s3_errors_are_classified_by_code(code, status, permanent):
    from botocore.exceptions import ClientError, EndpointConnectionError

    error = ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")
    assert is_permanent(error) is permanent
    assert is_permanent(EndpointConnectionError(endpoint_url="http://x")) is False
