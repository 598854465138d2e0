"""Threads follow the CPUs the process may use: affinity, capped by a cgroup CPU quota."""

from __future__ import annotations

import os

import pytest

from platform_assets.nlp import embeddings


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"cpu.max": "150000 100000"}, 2),  # a 1.5-CPU Kubernetes limit: 2 threads
        ({"cpu.max": "100000 100000"}, 1),
        ({"cpu.max": "max 100000"}, None),  # no limit: the affinity
        ({"cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000"}, None),  # cgroup v1, no limit
        ({"cpu.cfs_quota_us": "100000", "cpu.cfs_period_us": "100000"}, 1),
        ({}, None),  # no cgroup files at all
    ],
)
def test_usable_cpus_respects_a_cgroup_quota(tmp_path, monkeypatch, files, expected):
    for name, text in files.items():
        (tmp_path / name).write_text(text + "\n")
    monkeypatch.setattr(embeddings, "CGROUP_CPU_LIMITS", (tmp_path / "cpu.max", tmp_path / "cpu.cfs_quota_us"))
    affinity = len(os.sched_getaffinity(0))
    assert embeddings.usable_cpus() == min(affinity, expected or affinity)
