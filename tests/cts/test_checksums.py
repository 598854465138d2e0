"""crc64nvme as the CTS records it, cross-checked against an independent implementation."""

from __future__ import annotations

import base64
import random

import crc
import pytest

from platform_assets.cts.checksums import (
    ChecksumMismatch,
    crc64nvme,
    crc64nvme_b64,
    verify_crc64nvme,
)

# CRC-64/NVME by its catalogue parameters, computed by the pure-Python `crc` package
REFERENCE = crc.Calculator(
    crc.Configuration(
        width=64,
        polynomial=0xAD93D23594C93659,
        init_value=0xFFFFFFFFFFFFFFFF,
        final_xor_value=0xFFFFFFFFFFFFFFFF,
        reverse_input=True,
        reverse_output=True,
    )
)


def test_check_value():
    assert crc64nvme(b"123456789") == 0xAE8B14860A799888
    assert crc64nvme_b64(b"123456789") == base64.b64encode(bytes.fromhex("AE8B14860A799888")).decode()


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 1000, 4099])
def test_matches_reference_implementation_and_streams(size):
    data = random.Random(size).randbytes(size)
    assert crc64nvme(data) == REFERENCE.checksum(data)
    chunks = [data[i : i + 97] for i in range(0, len(data), 97)]
    assert crc64nvme(iter(chunks)) == crc64nvme(data)


def test_mismatch_names_the_file():
    data = b"Name\tCompleteness\ngenome1\t99.1\n"
    assert verify_crc64nvme("bkt/out/quality_report.tsv", data, crc64nvme_b64(data))
    with pytest.raises(ChecksumMismatch, match=r"bkt/out/quality_report.tsv"):
        verify_crc64nvme("bkt/out/quality_report.tsv", data + b"\n", crc64nvme_b64(data))
    with pytest.raises(ChecksumMismatch, match="no crc64nvme"):
        verify_crc64nvme("bkt/out/x.tsv", data, None)
