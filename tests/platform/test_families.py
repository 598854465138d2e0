"""Families are discovered from folders, and an inconsistent folder fails loudly.

Each case builds a throw-away project (an assets package and a sensors package) next to
the real one and runs the same discovery on it."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from platform_assets.families import FamilyError, discover_families

ASSETS = """
import dagster as dg

@dg.asset(key=["{key_prefix}", "thing"], owners={owners})
def thing():
    return 1

defs = dg.Definitions(assets=[thing])
"""
SENSORS = """
import dagster as dg

@dg.sensor(asset_selection=[dg.AssetKey(["{family}", "thing"])])
def watch_{family}():
    return dg.SkipReason("nothing")

defs = dg.Definitions(sensors=[watch_{family}])
"""


@pytest.fixture
def project(tmp_path: Path):
    """Writes packages `<assets>/<family>/...` and `<sensors>/<family>/...` under a fresh
    name and yields (write, assets package name, sensors package name)."""
    tag = uuid.uuid4().hex[:8]
    assets, sensors = f"fam_assets_{tag}", f"fam_sensors_{tag}"
    for package in (assets, sensors):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")

    def write(relative: str, text: str = "") -> None:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not (path.parent / "__init__.py").exists():
            (path.parent / "__init__.py").write_text("")
        path.write_text(textwrap.dedent(text))

    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    try:
        yield write, assets, sensors
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith((assets, sensors))]:
            del sys.modules[name]


def test_every_folder_with_definitions_is_a_family_with_its_sensors(project):
    write, assets, sensors = project
    write(f"{assets}/alpha/definitions.py", ASSETS.format(key_prefix="alpha", owners=["team:a"]))
    write(f"{assets}/beta/definitions.py", ASSETS.format(key_prefix="beta", owners=["team:b"]))
    write(f"{sensors}/alpha/definitions.py", SENSORS.format(family="alpha"))
    families = discover_families(assets, sensors, shared=frozenset())
    assert [f.name for f in families] == ["alpha", "beta"]
    alpha = families[0].definitions
    assert [s.name for s in alpha.sensors or []] == ["watch_alpha"]
    assert families[1].definitions.sensors in (None, [], ())


def test_a_family_folder_without_definitions_fails_loudly(project):
    write, assets, sensors = project
    write(f"{assets}/alpha/assets.py", ASSETS.format(key_prefix="alpha", owners=["team:a"]))
    with pytest.raises(FamilyError, match=r"alpha/ has no definitions.py"):
        discover_families(assets, sensors, shared=frozenset())


def test_sensors_of_a_misspelled_family_fail_loudly(project):
    write, assets, sensors = project
    write(f"{assets}/alpha/definitions.py", ASSETS.format(key_prefix="alpha", owners=["team:a"]))
    write(f"{sensors}/alpah/definitions.py", SENSORS.format(family="alpha"))
    with pytest.raises(FamilyError, match=r"alpah/ belongs to no family"):
        discover_families(assets, sensors, shared=frozenset())


def test_asset_keys_outside_the_family_prefix_fail_loudly(project):
    write, assets, sensors = project
    write(f"{assets}/alpha/definitions.py", ASSETS.format(key_prefix="beta", owners=["team:b"]))
    [family] = discover_families(assets, sensors, shared=frozenset())
    with pytest.raises(FamilyError, match=r"must start with 'alpha/'"):
        _ = family.definitions


def test_a_broken_family_raises_its_own_error(project):
    write, assets, sensors = project
    write(f"{assets}/alpha/definitions.py", "import a_module_that_does_not_exist\n")
    [family] = discover_families(assets, sensors, shared=frozenset())
    with pytest.raises(ModuleNotFoundError, match="a_module_that_does_not_exist"):
        _ = family.definitions


def test_a_definitions_module_without_defs_fails_loudly(project):
    write, assets, sensors = project
    write(f"{assets}/alpha/definitions.py", "defs = None\n")
    [family] = discover_families(assets, sensors, shared=frozenset())
    with pytest.raises(FamilyError, match=r"must export `defs"):
        _ = family.definitions


def test_an_asset_without_owners_fails_loudly(project):
    write, assets, sensors = project
    write(f"{assets}/alpha/definitions.py", ASSETS.format(key_prefix="alpha", owners=[]))
    [family] = discover_families(assets, sensors, shared=frozenset())
    with pytest.raises(FamilyError, match=r"have no owners"):
        _ = family.definitions


def test_every_asset_is_owned_by_its_familys_team():
    from platform_assets.definitions import defs
    from platform_assets.families import family_owners

    graph = defs.resolve_asset_graph()
    assert graph.observable_asset_keys, "the observed source (nlp/goals) belongs to a family too"
    for key in graph.materializable_asset_keys | graph.observable_asset_keys:
        assert list(graph.get(key).owners) == family_owners(key), key.to_user_string()


def test_every_asset_declares_its_kinds():
    """The UI's kind badges (storage and compute): no asset, observed or computed, without."""
    from platform_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    kindless = [k.to_user_string() for k in graph.get_all_asset_keys() if not graph.get(k).kinds]
    assert kindless == []


def test_a_plain_source_asset_counts_as_ownerless(project):
    write, assets, sensors = project
    source = "import dagster as dg\n\nsource = dg.SourceAsset(key=['alpha', 'source'])\n"
    write(f"{assets}/alpha/definitions.py", source + "defs = dg.Definitions(assets=[source])\n")
    [family] = discover_families(assets, sensors, shared=frozenset())
    with pytest.raises(FamilyError, match=r"alpha/source"):
        _ = family.definitions


def test_every_family_of_the_code_location_seeds_a_local_demo():
    from platform_assets.definitions import FAMILIES

    assert FAMILIES, "no family found"
    assert [f.name for f in FAMILIES if f.demo_seeder is None] == []
