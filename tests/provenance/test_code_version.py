"""The code-version rows of the provenance contract (issue 2, table in section 5) and the
closure beyond names (issue 11): resources, run config, registries, constants, programs."""

import importlib.metadata

import dagster as dg
import pytest

from platform_assets.provenance import closure_names, code_version_of, code_version_parts, versioned_asset
from platform_assets.provenance.programs import program_version, program_version_parts
from tests.provenance.project_copy import PACKAGE, load_asset_function, version_of

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


# ---- the closure beyond names: issue 11, item 1 ---------------------------------------
CLOSURE_ASSETS = """
import re
from dataclasses import dataclass

from provenance_sample import helpers

PATTERN = re.compile(r"[a-z]+")
REGISTRY = {"double": helpers.double, "square": lambda v: v * v}


class Store:
    def read(self, key):
        return key.upper()

    def unused(self):
        return "never called by the asset"


class Settings:
    threshold: float = 0.5

    @property
    def effective(self):
        return self.threshold * 2


@dataclass(frozen=True)
class Spec:
    transform: object


SPEC = Spec(transform=helpers.negate)


def enriched(context, store: Store, config: Settings):
    values = [REGISTRY[name](1) for name in ("double", "square")]
    return store.read("k"), config.effective, PATTERN.findall("abc"), values, SPEC.transform(1)


def unrelated_neighbour():
    return "not reached"
"""
CLOSURE_HELPERS = """
def double(value):
    return value * 2


def negate(value):
    return -value
"""
CLOSURE = {"assets.py": CLOSURE_ASSETS, "helpers.py": CLOSURE_HELPERS, "unrelated.py": UNRELATED}


def closure_variant(old: str, new: str, file: str = "assets.py") -> dict[str, str]:
    assert old in CLOSURE[file], old
    return {**CLOSURE, file: CLOSURE[file].replace(old, new)}


@pytest.mark.parametrize(
    ("old", "new", "file"),
    [
        ("return key.upper()", "return key.lower()", "assets.py"),  # method of an annotated parameter's class
        ("return self.threshold * 2", "return self.threshold * 3", "assets.py"),  # property of the config class
        ("return value * 2", "return value * 3", "helpers.py"),  # function held in a dict
        ('"square": lambda v: v * v', '"square": lambda v: v * v * v', "assets.py"),  # lambda held in a dict
        ('re.compile(r"[a-z]+")', 're.compile(r"[a-y]+")', "assets.py"),  # regex pattern
        ('re.compile(r"[a-z]+")', 're.compile(r"[a-z]+", re.IGNORECASE)', "assets.py"),  # regex flags
        ("return -value", "return +value", "helpers.py"),  # function in a dataclass field
        ("threshold: float = 0.5", "threshold: float = 0.6", "assets.py"),  # a field of a reached class
    ],
)
def test_code_reached_beyond_names_changes_the_version(tmp_path, old, new, file):
    """Invariant: a logic edit anywhere the asset can reach moves its version."""
    assert version_of(tmp_path, closure_variant(old, new, file)) != version_of(tmp_path, CLOSURE)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('return "never called by the asset"', 'return "still never called"'),  # another method of a reached class
        ('return "not reached"', 'return "still not reached"'),  # another function of the same module
    ],
)
def test_unreached_code_next_to_reached_code_keeps_the_version(tmp_path, old, new):
    """Invariant: hashing is per function, so an edit the asset cannot reach moves nothing."""
    assert version_of(tmp_path, closure_variant(old, new)) == version_of(tmp_path, CLOSURE)


SELF_BOUND = """
from dataclasses import dataclass


@dataclass(frozen=True)
class Context:
    job: dict

    @property
    def job_id(self):
        return self.job["id"]


class Importer:
    def job(self):
        return "a job definition: graph wiring, never called by the asset"


IMPORTER = Importer()


def enriched(context, ctx: Context):
    return ctx.job_id, IMPORTER
"""


def test_self_attributes_bind_to_their_own_class(tmp_path):
    """`self.job` in Context is Context's field: editing an unrelated `Importer.job` keeps
    the version, editing `Context.job_id` changes it."""
    base = version_of(tmp_path, {"assets.py": SELF_BOUND})
    unrelated = SELF_BOUND.replace("never called by the asset", "still never called")
    assert version_of(tmp_path, {"assets.py": unrelated}) == base
    related = SELF_BOUND.replace('self.job["id"]', 'self.job["key"]')
    assert version_of(tmp_path, {"assets.py": related}) != base


def test_libraries_imported_by_reached_code_enter_with_their_version(tmp_path):
    files = {"assets.py": "def enriched(context):\n    import numpy\n    return numpy.zeros(1)\n"}
    fn = load_asset_function(tmp_path / "numpy_sample", files, "assets", "enriched")
    parts = code_version_parts(fn, roots=[tmp_path / "numpy_sample"])
    assert parts["package:numpy"] == importlib.metadata.version("numpy")
    assert not any(name.startswith("package:dagster") for name in parts)  # orchestration is execution-only


def test_closure_names_include_nested_code(tmp_path):
    files = {"assets.py": "def enriched(context):\n    return [x for x in range(3)], (lambda: 1)()\n"}
    fn = load_asset_function(tmp_path / "nested", files, "assets", "enriched")
    names = closure_names(fn, roots=[tmp_path / "nested"])
    assert {f"{PACKAGE}.assets:enriched", f"{PACKAGE}.assets:enriched.<locals>.<listcomp>"} <= names
    assert f"{PACKAGE}.assets:enriched.<locals>.<lambda>" in names


# ---- external programs ---------------------------------------------------------------
PROGRAM = {
    "pyproject.toml": '[project]\nname = "sample-program"\ndependencies = ["numpy>=1"]\n',
    "tool/main.py": "import numpy\n\n\ndef run(x):\n    return numpy.sqrt(x)\n",
    "tool/table.csv": "a,b\n1,2\n",
}


def write_program(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("file", "old", "new", "moves"),
    [
        ("tool/main.py", "def run(x):", "def run(x):  # a comment", False),
        ("tool/main.py", "def run(x):\n", 'def run(x):\n    """A docstring."""\n', False),
        ("tool/main.py", "numpy.sqrt(x)", "numpy.sqrt( x )", False),
        ("tool/main.py", "numpy.sqrt(x)", "numpy.exp(x)", True),
        ("tool/table.csv", "1,2", "1,3", True),  # not Python: its bytes count
        ("pyproject.toml", '["numpy>=1"]', '["numpy>=1", "pandas>=2"]', True),  # a new dependency
    ],
)
def test_program_version_follows_code_not_formatting(tmp_path, file, old, new, moves):
    base = program_version(write_program(tmp_path / "a", PROGRAM))
    edited = {**PROGRAM, file: PROGRAM[file].replace(old, new)}
    assert (program_version(write_program(tmp_path / "b", edited)) != base) is moves


def test_program_version_includes_its_dependencies_transitively(tmp_path):
    parts = program_version_parts(write_program(tmp_path / "p", PROGRAM))
    assert parts["package:numpy"] == importlib.metadata.version("numpy")
    program = {**PROGRAM, "pyproject.toml": PROGRAM["pyproject.toml"].replace('"numpy>=1"', '"pandas>=2"')}
    transitive = program_version_parts(write_program(tmp_path / "q", program))
    assert transitive["package:numpy"] == importlib.metadata.version("numpy")  # pandas requires numpy
