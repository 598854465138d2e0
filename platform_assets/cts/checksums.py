"""CRC-64/NVME checksums of CTS output files, as the CTS reports them.

The CTS records each output's ``crc64nvme``: the base64 of the 8-byte big-endian
CRC-64/NVME of the file (S3's ``ChecksumCRC64NVME``). Files are verified before any
import so a corrupted or truncated upload never reaches a table.

The computation uses ``awscrt`` (the AWS Common Runtime, hardware-accelerated, GB/s).
:func:`crc64nvme` also accepts an iterable of chunks, but the importers currently read
each report whole (``VerifiedOutputs.read_bytes``) and checksum those bytes: reports are
small; a streaming read would be needed for multi-GB outputs.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable


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


def crc64nvme_b64(data: bytes | Iterable[bytes]) -> str:
    """The CTS / S3 representation: base64 of the 8-byte big-endian checksum."""
    return base64.b64encode(crc64nvme(data).to_bytes(8, "big")).decode("ascii")


def verify_crc64nvme(path: str, data: bytes | Iterable[bytes], expected_b64: str | None) -> str:
    """Check ``data`` (the content of output ``path``) against the CTS checksum.

    Returns the checksum; raises :class:`ChecksumMismatch` naming the file when it
    differs or when the CTS recorded none (an unverifiable file is not imported).
    """
    if not expected_b64:
        raise ChecksumMismatch(f"output file {path!r} has no crc64nvme in the CTS job document")
    actual = crc64nvme_b64(data)
    if actual != expected_b64:
        raise ChecksumMismatch(
            f"checksum mismatch for output file {path!r}: the CTS recorded crc64nvme "
            f"{expected_b64}, the stored file has {actual} (corrupted or replaced)"
        )
    return actual
