"""CRC-64/NVME checksums of CTS output files, as the CTS reports them.

The CTS records each output's ``crc64nvme``: the base64 of the 8-byte big-endian
CRC-64/NVME of the file (S3's ``ChecksumCRC64NVME``). Files are verified before any
import so a corrupted or truncated upload never reaches a table.

The computation uses ``awscrt`` (the AWS Common Runtime, hardware-accelerated, GB/s).
Files are checksummed as they stream in (:class:`Crc64Nvme`), chunk by chunk, so a
report is never held whole just to verify it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator

from resources.cts.text import printable


class ChecksumMismatch(ValueError):
    """An output file's content does not match the crc64nvme recorded by the CTS."""


def crc64nvme(data: bytes | Iterable[bytes]) -> int:
    """CRC-64/NVME of ``data`` (bytes or an iterable of chunks)."""
    from awscrt.checksums import crc64nvme as _crc

    if isinstance(data, (bytes, bytearray, memoryview)):
        return _crc(bytes(data))
    value = 0
    for chunk in data:
        value = _crc(chunk, value)
    return value


def _b64(value: int) -> str:
    return base64.b64encode(value.to_bytes(8, "big")).decode("ascii")


def crc64nvme_b64(data: bytes | Iterable[bytes]) -> str:
    """The CTS / S3 representation: base64 of the 8-byte big-endian checksum."""
    return _b64(crc64nvme(data))


class Crc64Nvme:
    """A running CRC-64/NVME over the chunks that pass through :meth:`counting`."""

    def __init__(self) -> None:
        self.value = 0

    def counting(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        from awscrt.checksums import crc64nvme as _crc

        for chunk in chunks:
            self.value = _crc(chunk, self.value)
            yield chunk

    @staticmethod
    def drain(chunks: Iterator[bytes]) -> None:
        """Read what is left (so it is counted)."""
        for _ in chunks:
            pass

    def b64(self) -> str:
        return _b64(self.value)


def verify_crc64nvme(
    path: str,
    data: bytes | Iterable[bytes] | Crc64Nvme,
    expected_b64: str | None,
    cause: BaseException | None = None,
) -> str:
    """Check ``data`` (the content of output ``path``, or its running checksum) against
    the CTS checksum.

    Returns the checksum; raises :class:`ChecksumMismatch` naming the file when it
    differs or when the CTS recorded none (an unverifiable file is not imported).
    ``cause``: what went wrong while the file was read (chained to the mismatch).
    """
    if not expected_b64:
        raise ChecksumMismatch(f"output file {path!r} has no crc64nvme in the CTS job document") from cause
    actual = data.b64() if isinstance(data, Crc64Nvme) else crc64nvme_b64(data)
    if actual != expected_b64:
        raise ChecksumMismatch(
            f"checksum mismatch for output file {path!r}: the CTS recorded crc64nvme "
            f"{printable(expected_b64, 40)}, the stored file has {actual} (corrupted or replaced)"
        ) from cause
    return actual
