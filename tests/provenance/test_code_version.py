"""The code-version rows of the provenance contract (issue 2, table in section 5)."""

import dagster as dg
import pytest

from platform_assets.provenance import code_version_of, versioned_asset
from tests.provenance.project_copy import version_of

ASSETS = '''
from provenance_sample import helpers

SCALE = 3


def enriched(context, rows):
    """Enrich rows."""
    # multiply, then shift
    return [helpers.shift(r * SCALE) for r in rows]
'''
HELPERS = """
def shift(value):
    return value + 1
"""
UNRELATED = """
def report(values):
    return sum(values)
"""
BASE = {"assets.py": ASSETS, "helpers.py": HELPERS, "unrelated.py": UNRELATED}


def variant(**changes):
    return {**BASE, **changes}


@pytest.fixture
def base_version(tmp_path):
    return version_of(tmp_path, BASE)


def test_same_project_same_version(tmp_path, base_version):
    assert version_of(tmp_path, BASE) == base_version


def test_comment_docstring_and_formatting_edits_keep_the_version(tmp_path, base_version):
    cosmetic = '''
from provenance_sample import helpers

SCALE = 3
def enriched(context,   rows):
    """A completely different docstring,
    over two lines."""
    return [  # a new comment
        helpers.shift(r  *  SCALE)
        for r in rows
    ]
'''
    assert version_of(tmp_path, variant(**{"assets.py": cosmetic})) == base_version


def test_logic_edit_in_the_asset_changes_the_version(tmp_path, base_version):
    edited = ASSETS.replace("r * SCALE", "r + SCALE")
    assert version_of(tmp_path, variant(**{"assets.py": edited})) != base_version


def test_constant_the_asset_uses_is_logic(tmp_path, base_version):
    edited = ASSETS.replace("SCALE = 3", "SCALE = 4")
    assert version_of(tmp_path, variant(**{"assets.py": edited})) != base_version


def test_logic_edit_in_a_helper_in_another_module_changes_the_version(tmp_path, base_version):
    edited = HELPERS.replace("value + 1", "value + 2")
    assert version_of(tmp_path, variant(**{"helpers.py": edited})) != base_version


def test_transitive_helper_edit_changes_the_version(tmp_path):
    helpers = """
def shift(value):
    return _offset(value)


def _offset(value):
    return value + 1
"""
    before = version_of(tmp_path, variant(**{"helpers.py": helpers}))
    after = version_of(tmp_path, variant(**{"helpers.py": helpers.replace("value + 1", "value - 1")}))
    assert before != after


def test_edit_in_an_unrelated_module_keeps_the_version(tmp_path, base_version):
    edited = UNRELATED.replace("sum(values)", "max(values)")
    assert version_of(tmp_path, variant(**{"unrelated.py": edited})) == base_version


def test_declared_program_hash_changes_the_version(tmp_path):
    one = version_of(tmp_path, BASE, externals={"program": "sha256:aaa"})
    two = version_of(tmp_path, BASE, externals={"program": "sha256:bbb"})
    assert one != two


def test_declared_package_versions_enter_the_version():
    def compute(context):
        return 1

    assert code_version_of(compute, packages=["numpy"]) != code_version_of(compute)


def test_image_digest_changes_the_code_version_of_a_versioned_asset(monkeypatch):
    def declare():
        @versioned_asset(key=["sample", "in_image"], image="sample")
        def in_image(context: dg.AssetExecutionContext):
            return 1

        return in_image

    monkeypatch.setenv("PLATFORM_IMAGE_SAMPLE", "registry.example/sample@sha256:" + "1" * 64)
    first = declare()
    monkeypatch.setenv("PLATFORM_IMAGE_SAMPLE", "registry.example/sample@sha256:" + "2" * 64)
    second = declare()
    key = dg.AssetKey(["sample", "in_image"])
    assert first.code_versions_by_key[key] != second.code_versions_by_key[key]
    image = second.op.tags["dagster-k8s/config"]
    assert "2" * 64 in str(image)


def test_hand_written_code_versions_are_refused():
    with pytest.raises(TypeError, match="computes code_version"):
        versioned_asset(key="x", code_version="1")
