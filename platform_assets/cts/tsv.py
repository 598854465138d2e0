"""A strict, streaming reader of tab-separated report files.

Records end at ``\\n`` or ``\\r\\n`` and nowhere else: ``str.splitlines()`` also breaks
at U+2028, U+0085, form feeds and record separators, which split valid fields and shift
line numbers. Fields are separated by tabs; a line with another field count than the
header, a duplicated header column, an empty file, or a line that is not UTF-8 is a
:class:`ReportFormatError` naming the file and the line.

The file is read as a stream of chunks (no whole-file copy, records handed out in
blocks), so memory follows the parsed rows, not the raw text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from platform_assets.cts.strict_cast import ReportFormatError
from resources.cts.text import clip

Row = tuple[int, list[str]]  # (line number, fields)
ROWS_PER_BLOCK = 10_000


def split_records(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The records of a byte stream: split at ``\\n`` only, one trailing ``\\r`` removed.
    A final record without ``\\n`` counts; nothing after a final ``\\n`` does."""
    pending: list[bytes] = []
    for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            pending.append(chunk[start:end])
            record = b"".join(pending)
            pending = []
            yield record[:-1] if record.endswith(b"\r") else record
            start = end + 1
        if start < len(chunk):
            pending.append(chunk[start:])
    if pending:
        record = b"".join(pending)
        yield record[:-1] if record.endswith(b"\r") else record


class TsvReader:
    """The header and rows of one TSV file given as chunks of bytes (read once)."""

    def __init__(self, path: str, chunks: Iterable[bytes], rows_per_block: int = ROWS_PER_BLOCK):
        self.path = path
        self._records = enumerate(split_records(chunks), start=1)
        self._rows_per_block = rows_per_block
        self._header: list[str] | None = None

    def _text(self, number: int, record: bytes) -> str:
        try:
            return record.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ReportFormatError(f"{self.path}: line {number} is not UTF-8 text ({e.reason})") from None

    @property
    def header(self) -> list[str]:
        """The column names (first line); duplicates and an empty first line are errors."""
        if self._header is None:
            first = next(self._records, None)
            if first is None or not first[1].strip():
                raise ReportFormatError(f"{self.path}: empty file or missing header line")
            header = self._text(*first).split("\t")
            duplicated = sorted(name for name, count in Counter(header).items() if count > 1)
            if duplicated:
                raise ReportFormatError(
                    f"{self.path}: column(s) {clip(repr(duplicated), 300)} occur more than once in the header"
                )
            self._header = header
        return self._header

    def blocks(self) -> Iterator[list[Row]]:
        """The rows after the header, in blocks; empty lines are skipped."""
        width = len(self.header)
        block: list[Row] = []
        for number, record in self._records:
            if not record:
                continue
            fields = self._text(number, record).split("\t")
            if len(fields) != width:
                raise ReportFormatError(f"{self.path}: line {number} has {len(fields)} fields, the header has {width}")
            block.append((number, fields))
            if len(block) >= self._rows_per_block:
                yield block
                block = []
        if block:
            yield block

    def rows(self) -> list[Row]:
        """Every row (small files, tests)."""
        return [row for block in self.blocks() for row in block]


def parse_tsv(path: str, data: bytes) -> tuple[list[str], list[Row]]:
    """(header, rows) of a whole file in memory."""
    reader = TsvReader(path, [data])
    return reader.header, reader.rows()
