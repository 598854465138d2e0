"""Paths in a Kalman config stay inside the config's folder (declared inputs only)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalman_enkf.config import InputError, inside

SEGMENTS = st.sampled_from(["a", "b.parquet", ".", "..", "", "case-a", "..."])
PATHS = st.builds(
    lambda lead, parts: lead + "/".join(parts),
    st.sampled_from(["", "/", "./", "../"]),
    st.lists(SEGMENTS, min_size=1, max_size=5),
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(value=PATHS)
def test_a_config_path_resolves_inside_the_folder_or_is_refused(value):
    """Invariant: for any path written in a config, `inside` either returns a path whose
    resolved form lies inside the config's folder, or raises `InputError`; it always raises
    for an absolute path or one with a '..' segment, and accepts every other one."""
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "case-b"
        base.mkdir()
        climbs = value.startswith("/") or ".." in value.split("/")
        if climbs:
            with pytest.raises(InputError, match="must be a path inside"):
                inside(base, "prior", value)
        else:
            assert inside(base, "prior", value).resolve().is_relative_to(base.resolve())


def test_a_symbolic_link_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "case-a").mkdir()
    (tmp_path / "case-a" / "prior.parquet").write_bytes(b"x")
    (tmp_path / "case-b").mkdir()
    (tmp_path / "case-b" / "prior.parquet").symlink_to(tmp_path / "case-a" / "prior.parquet")
    with pytest.raises(InputError, match="leads outside"):
        inside(tmp_path / "case-b", "prior", "prior.parquet")
    assert inside(tmp_path / "case-a", "prior", "prior.parquet") == tmp_path / "case-a" / "prior.parquet"
