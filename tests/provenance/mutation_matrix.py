"""The change matrix of the provenance contract, applied to the real code location.

Each row is one edit of a scratch copy of the project (or of its environment: an image
digest, an installed package version) and the set of assets and checks whose code version
must move; every other one must keep its version. Each edit is loaded in a fresh
interpreter (`import platform_assets.definitions`), exactly like a code server after a
deploy. A version that should have moved and did not is a *missed* recomputation, one
that moved without reason a *needless* one; the contract is 0 and 0.

    .venv/bin/python -m tests.provenance.mutation_matrix [--only SUBSTRING] [--list]

Edits are located by function (qualified name) where they can be, so the matrix follows
refactorings; text anchors are used where the edit is about specific code (`OR` -> `AND`).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
COPIED = ("platform_assets", "resources", "sensors", "localdev", "programs", "docker")

CHECKM2 = "cts/checkm2"
GTDBTK = "cts/gtdbtk"
POSTERIOR = "kalman/posterior"
GROUPS = "nlp/goal_similarity_groups"
TRAJECTORY = "propagation/trajectory"
CTS = frozenset({CHECKM2, GTDBTK})
KALMAN_CHECKS = frozenset(
    {
        "kalman/posterior:posterior_is_finite",
        "kalman/posterior:posterior_spread_is_positive",
        "kalman/posterior:innovation_statistics",
    }
)
ENERGY_CHECK = "propagation/trajectory:energy_drift"
NOTHING: frozenset[str] = frozenset()

PROBE = textwrap.dedent(
    """
    import json, warnings
    warnings.simplefilter("ignore")
    import dagster as dg
    from platform_assets.definitions import defs
    from platform_assets.provenance.checks import check_provenance_of
    from platform_assets.provenance.spec import provenance_of

    versions = {}
    for item in defs.assets or ():
        if isinstance(item, dg.AssetsDefinition) and provenance_of(item) is not None:
            versions[item.key.to_user_string()] = provenance_of(item).code_version
    for item in defs.asset_checks or ():
        spec = check_provenance_of(item)
        if spec is not None:
            for key in item.check_keys:
                versions[f"{key.asset_key.to_user_string()}:{key.name}"] = spec.code_version
    print(json.dumps(versions, sort_keys=True))
    """
)


@dataclass(frozen=True)
class Change:
    """One source change: a text replacement, or an AST-located insertion."""

    path: str
    old: str = ""
    new: str = ""
    function: str = ""  # qualified name: insert `new` as the first statement of its body
    append: bool = False

    def apply(self, root: Path) -> None:
        file = root / self.path
        text = file.read_text()
        if self.append:
            file.write_text(text.rstrip("\n") + "\n" + self.new + "\n")
        elif self.function:
            file.write_text(_insert_in_body(text, self.function, self.new, self.path))
        else:
            if text.count(self.old) != 1:
                raise LookupError(f"{self.path}: expected exactly one {self.old!r} (found {text.count(self.old)})")
            file.write_text(text.replace(self.old, self.new))


@dataclass(frozen=True)
class Edit:
    name: str
    changes: tuple[Change, ...]
    moves: frozenset[str]
    setup: tuple[Change, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    fake_packages: Mapping[str, str] = field(default_factory=dict)  # distribution -> version
    row: str = ""  # the row of the issue table / contract it demonstrates


def _insert_in_body(text: str, qualname: str, statement: str, path: str) -> str:
    """Insert `statement` (a line; `#` comments allowed) before the first statement of the
    body of function/class `qualname` that is not its docstring."""
    tree = ast.parse(text)
    node: ast.AST = tree
    for part in qualname.split("."):
        found = [
            child
            for child in ast.iter_child_nodes(node)
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and child.name == part
        ]
        if not found:
            raise LookupError(f"{path}: no definition {qualname!r}")
        node = found[-1]
    body = node.body  # type: ignore[attr-defined]
    first = body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
        and len(body) > 1
    ):
        first = body[1]
    lines = text.splitlines(keepends=True)
    indent = " " * first.col_offset
    lines.insert(first.lineno - 1, indent + statement + "\n")
    return "".join(lines)


def logic(path: str, function: str) -> Change:
    """A logic edit: a new statement in the function (its normalized AST changes)."""
    return Change(path, function=function, new="_provenance_probe = 1")


def comment(path: str, function: str) -> Change:
    return Change(path, function=function, new="# a comment only: no logic changed")


# the registry rows: `vectorize` (defined last, so it is the one called) looks the method up
# in a dict; the vectorizer functions are then reached through the dict only
REDEFINED_VECTORIZE = """

def text_vectors(texts, method, cache=None, stats=None):
    if method in VECTORIZERS:
        return VECTORIZERS[method](texts)
    return cached_embeddings(texts, cache if cache is not None else {}, stats)
"""

EDITS: tuple[Edit, ...] = (
    # ---- the nine rows of the original contract ---------------------------------------
    Edit(
        "comment in an asset function",
        (comment("platform_assets/propagation/assets.py", "trajectory"),),
        NOTHING,
        row="comment/docstring/format edit keeps",
    ),
    Edit(
        "docstring of an asset function",
        (
            Change(
                "platform_assets/propagation/assets.py",
                '"""Propagate N steps, resuming',
                '"""Reworded docstring. Propagate N steps, resuming',
            ),
        ),
        NOTHING,
        row="comment/docstring/format edit keeps",
    ),
    Edit(
        "formatting of a helper",
        (Change("platform_assets/propagation/model.py", "G = 1.0\n", "G = (\n    1.0\n)\n"),),
        NOTHING,
        row="comment/docstring/format edit keeps",
    ),
    Edit(
        "logic in an asset function",
        (logic("platform_assets/propagation/assets.py", "trajectory"),),
        frozenset({TRAJECTORY}),
        row="logic edit changes",
    ),
    Edit(
        "a constant the asset uses",
        (Change("platform_assets/propagation/assets.py", "PLOT_POINTS = 4000", "PLOT_POINTS = 4001"),),
        frozenset({TRAJECTORY}),
        row="constant edit changes",
    ),
    Edit(
        "helper in another module",
        (logic("platform_assets/propagation/records.py", "to_parquet_bytes"),),
        frozenset({TRAJECTORY}),
        row="helper in another module changes",
    ),
    Edit(
        "helper reached transitively",
        (logic("platform_assets/propagation/model.py", "_verlet"),),
        frozenset({TRAJECTORY}),
        row="helper reached transitively changes",
    ),
    Edit(
        "unrelated module",
        (logic("platform_assets/nlp/synthetic.py", "synthetic_corpus"),),
        NOTHING,
        row="unrelated module edit keeps",
    ),
    Edit(
        "image digest (propagation)",
        (),
        frozenset({TRAJECTORY}),
        env={"PLATFORM_IMAGE_PROPAGATION": "registry.example/propagation@sha256:" + "1" * 64},
        row="image digest change changes",
    ),
    Edit(
        "image digest (program image)",
        (),
        frozenset({POSTERIOR}),
        env={"PLATFORM_IMAGE_KALMAN": "registry.example/kalman@sha256:" + "2" * 64},
        row="image digest change changes",
    ),
    Edit(
        "program logic",
        (Change("programs/kalman/kalman_enkf/analysis.py", new="_PROVENANCE_PROBE = 1", append=True),),
        frozenset({POSTERIOR}),
        row="program hash change changes",
    ),
    Edit(
        "package version",
        (),
        frozenset({GROUPS, TRAJECTORY, POSTERIOR, *KALMAN_CHECKS, ENERGY_CHECK}),
        fake_packages={"numpy": "99.0.0"},
        row="package version change changes",
    ),
    # ---- the table: missed reruns -------------------------------------------
    Edit(
        "BlobStorage.publish_dir",
        (logic("resources/shared/blob.py", "BlobStorage.publish_dir"),),
        frozenset({POSTERIOR, TRAJECTORY}),
        row="resource method the asset calls",
    ),
    Edit(
        "DeltaLake.merge",
        (logic("resources/cts/lake.py", "DeltaLake.merge"),),
        CTS,
        row="resource method the asset calls",
    ),
    Edit(
        "merge_predicates OR -> AND",
        (Change("resources/cts/lake.py", 'changed = " OR ".join(', 'changed = " AND ".join('),),
        CTS,
        row="resource method the asset calls",
    ),
    Edit(
        "CtsObjectStore.open_chunks",
        (logic("resources/cts/outputs.py", "CtsObjectStore.open_chunks"),),
        CTS,
        row="resource method the asset calls",
    ),
    Edit(
        "CtsClient.get_job",
        (logic("resources/cts/client.py", "CtsClient.get_job"),),
        CTS,
        row="resource method the asset calls",
    ),
    Edit(
        "spark_config",
        (
            Change(
                "resources/cts/spark.py", '"spark.sql.shuffle.partitions": "4"', '"spark.sql.shuffle.partitions": "8"'
            ),
        ),
        frozenset({GTDBTK}),
        row="resource configuration in code",
    ),
    Edit(
        "SimilarityConfig.effective_threshold",
        (logic("platform_assets/nlp/assets.py", "SimilarityConfig.effective_threshold"),),
        frozenset({GROUPS}),
        row="method of the run-config class",
    ),
    Edit(
        "PropagationConfig.ensemble_spec",
        (logic("platform_assets/propagation/assets.py", "PropagationConfig.ensemble_spec"),),
        frozenset({TRAJECTORY}),
        row="method of the run-config class",
    ),
    Edit(
        "function in a registry dict",
        (logic("platform_assets/nlp/lexical.py", "tfidf_vectors"),),
        frozenset({GROUPS}),
        setup=(
            Change(
                "platform_assets/nlp/similarity.py",
                new='VECTORIZERS = {"tfidf": tfidf_vectors}\n' + REDEFINED_VECTORIZE,
                append=True,
            ),
        ),
        row="function reached through a dict",
    ),
    Edit(
        "lambda in a registry dict",
        (
            Change(
                "platform_assets/nlp/similarity.py",
                "lambda texts: tfidf_vectors(list(texts))",
                "lambda texts: tfidf_vectors(sorted(texts))",
            ),
        ),
        frozenset({GROUPS}),
        setup=(
            Change(
                "platform_assets/nlp/similarity.py",
                new='VECTORIZERS = {"tfidf": lambda texts: tfidf_vectors(list(texts))}\n' + REDEFINED_VECTORIZE,
                append=True,
            ),
        ),
        row="lambda in a dict",
    ),
    Edit(
        "compiled regex pattern",
        (Change("platform_assets/propagation/partitions.py", 'r"[1-9][0-9]*"', 'r"[1-9][0-9]{0,8}"'),),
        frozenset({TRAJECTORY}),
        row="non-simple constant (re.compile)",
    ),
    Edit(
        "compiled regex flags",
        (
            Change(
                "platform_assets/propagation/partitions.py",
                'r"[1-9][0-9]*")',
                'r"[1-9][0-9]*", re.ASCII)',
            ),
        ),
        frozenset({TRAJECTORY}),
        row="non-simple constant (re.compile)",
    ),
    Edit(
        "program dependency version",
        (),
        frozenset({POSTERIOR, *KALMAN_CHECKS}),
        fake_packages={"pandas": "99.0.0"},
        row="external program's dependencies",
    ),
    Edit(
        "pyarrow version (imported inside nlp helpers)",
        (),
        frozenset({CHECKM2, GTDBTK, POSTERIOR, GROUPS, TRAJECTORY}),
        fake_packages={"pyarrow": "99.0.0"},
        row="pyarrow used undeclared by nlp",
    ),
    # ---- the table: needless reruns -----------------------------------------
    Edit(
        "comment in the Python program",
        (Change("programs/kalman/kalman_enkf/analysis.py", new="# a comment only", append=True),),
        NOTHING,
        row="comment-only edit in programs/kalman",
    ),
    Edit(
        "comment inside a program function",
        (comment("programs/kalman/kalman_enkf/cli.py", "run"),),
        NOTHING,
        row="comment-only edit in programs/kalman",
    ),
    Edit(
        "CTS topic default in settings",
        (
            Change(
                "resources/settings.py", 'DEFAULT_CTS_JOBS_TOPIC = "cts-jobs"', 'DEFAULT_CTS_JOBS_TOPIC = "cts-jobs2"'
            ),
        ),
        NOTHING,
        row="a CTS topic default in resources/settings.py",
    ),
    Edit(
        "description of Importer.job",
        (
            Change(
                "platform_assets/cts/importers/base.py",
                'description=f"Import CTS jobs',
                'description=f"Imports CTS jobs',
            ),
        ),
        NOTHING,
        row="the description string of Importer.job",
    ),
    Edit(
        "skip.is_forced",
        (logic("platform_assets/provenance/skip.py", "is_forced"),),
        NOTHING,
        row="skip.is_forced",
    ),
    # ---- function granularity: unrelated code next to reached code ---------------------
    Edit(
        "unreached method of a reached resource class",
        (logic("resources/shared/blob.py", "BlobStorage.list"),),
        NOTHING,
        row="unrelated edit in the same class",
    ),
    Edit(
        "unreached function in a reached module",
        (logic("platform_assets/nlp/partitions.py", "sync_recipient_partitions"),),
        NOTHING,
        row="unrelated edit in the same module",
    ),
    Edit(
        "sensor code",
        (logic("sensors/cts/job_events.py", "cts_job_events"),),
        NOTHING,
        row="unrelated module edit keeps",
    ),
    Edit(
        "another family's resource",
        (logic("resources/cts/kafka.py", "KafkaResource.publish"),),
        NOTHING,
        row="unrelated module edit keeps",
    ),
    Edit(
        "execution-only plumbing (Dask client)",
        (logic("resources/propagation/dask.py", "DaskResource.get_client"),),
        NOTHING,
        row="execution-only list",
    ),
    Edit(
        "check helper",
        (logic("platform_assets/kalman/checks.py", "read_output"),),
        KALMAN_CHECKS,
        row="a check's own closure",
    ),
    Edit(
        "importer parse helper",
        (logic("platform_assets/cts/strict_cast.py", "cast_rows"),),
        CTS,
        row="helper in another module changes",
    ),
    Edit(
        "command factory staging",
        (logic("platform_assets/command/staging.py", "stage_inputs"),),
        frozenset({POSTERIOR}),
        row="helper in another module changes",
    ),
    Edit(
        "nlp grouping helper",
        (logic("platform_assets/nlp/grouping.py", "connected_groups"),),
        frozenset({GROUPS}),
        row="helper in another module changes",
    ),
    Edit(
        "default threshold table",
        (
            Change(
                "platform_assets/nlp/similarity.py", '{"minilm": 0.89, "tfidf": 0.65}', '{"minilm": 0.89, "tfidf": 0.6}'
            ),
        ),
        frozenset({GROUPS}),
        row="constant edit changes",
    ),
    Edit(
        "run-config field default",
        (
            Change(
                "platform_assets/propagation/assets.py",
                "dt: float = Field(default=0.01,",
                "dt: float = Field(default=0.02,",
            ),
        ),
        frozenset({TRAJECTORY}),
        row="method of the run-config class",
    ),
    Edit(
        "command template",
        (
            Change(
                "platform_assets/kalman/assets.py", '"--output-dir", "{out}"]', '"--output-dir", "{out}", "--verbose"]'
            ),
        ),
        frozenset({POSTERIOR}),
        row="external program invocation",
    ),
    Edit(
        "a constant one check reads",
        (
            Change(
                "platform_assets/kalman/checks.py",
                "CONSISTENT_INNOVATION_BAND = (0.2, 5.0)",
                "CONSISTENT_INNOVATION_BAND = (0.3, 5.0)",
            ),
        ),
        frozenset({"kalman/posterior:innovation_statistics"}),
        row="a check's own closure",
    ),
    Edit(
        "a check's config default",
        (Change("platform_assets/propagation/checks.py", "default=1e-3,", "default=1e-4,"),),
        frozenset({ENERGY_CHECK}),
        row="a check's own closure",
    ),
    Edit(
        "asset description (decorator)",
        (
            Change(
                "platform_assets/propagation/assets.py",
                '"Nominal trajectory + ensemble',
                '"The nominal trajectory + ensemble',
            ),
        ),
        NOTHING,
        row="graph wiring is not logic",
    ),
    Edit(
        "an unused import in the asset module",
        (Change("platform_assets/propagation/assets.py", new="import fractions  # noqa: E402,F401", append=True),),
        NOTHING,
        row="unrelated edit in the same module",
    ),
    Edit(
        "a new unused function in the asset module",
        (Change("platform_assets/propagation/assets.py", new="\n\ndef _not_called():\n    return 1", append=True),),
        NOTHING,
        row="unrelated edit in the same module",
    ),
    # ---- conservative by design: a registry is hashed whole -------------------------------
    Edit(
        "another importer's parse (the importer registry is hashed whole)",
        (logic("platform_assets/cts/importers/gtdbtk.py", "parse_gtdbtk"),),
        CTS,
        row="registry: every function it holds counts for whoever consults it",
    ),
)


class Scratch:
    """A copy of the project whose files edits change and restore."""

    def __init__(self, root: Path):
        self.root = root
        for name in COPIED:
            shutil.copytree(
                REPO_ROOT / name,
                root / name,
                ignore=shutil.ignore_patterns(".pytest_cache", "*.egg-info", ".platform"),
                symlinks=True,
            )
        self.packages_dir = root / "_fake_site"
        self.packages_dir.mkdir()

    def snapshot(self, changes: Iterable[Change]) -> dict[Path, tuple[str, os.stat_result]]:
        files = {self.root / change.path for change in changes}
        return {file: (file.read_text(), file.stat()) for file in files}

    @staticmethod
    def restore(saved: Mapping[Path, tuple[str, os.stat_result]]) -> None:
        for file, (text, stat) in saved.items():
            file.write_text(text)
            os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # caches keyed by mtime stay valid

    def fake_packages(self, versions: Mapping[str, str]) -> str | None:
        if not versions:
            return None
        target = Path(tempfile.mkdtemp(dir=self.packages_dir))
        for name, version in versions.items():
            info = target / f"{name}-{version}.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        return str(target)

    def versions(self, env: Mapping[str, str] = {}, fake: str | None = None) -> dict[str, str]:
        environment = {
            k: v for k, v in os.environ.items() if not k.startswith(("PLATFORM_IMAGE_", "PYTHONPATH", "PLATFORM_ENV"))
        }
        environment.update(env)
        environment["PLATFORM_HOME"] = str(self.root / ".platform")
        environment["PYTHONPATH"] = os.pathsep.join(p for p in (fake, str(self.root)) if p)
        done = subprocess.run(
            [sys.executable, "-c", PROBE],
            cwd=self.root,
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"loading the definitions failed:\n{done.stderr[-4000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


@dataclass
class Outcome:
    edit: Edit
    moved: frozenset[str]
    missed: frozenset[str]
    needless: frozenset[str]
    error: str = ""


def run_edit(scratch: Scratch, edit: Edit, baselines: dict[tuple[Change, ...], dict[str, str]]) -> Outcome:
    saved = scratch.snapshot(edit.setup + edit.changes)
    try:
        for change in edit.setup:
            change.apply(scratch.root)
        if edit.setup not in baselines:
            baselines[edit.setup] = scratch.versions()
        before = baselines[edit.setup]
        for change in edit.changes:
            change.apply(scratch.root)
        after = scratch.versions(edit.env, scratch.fake_packages(edit.fake_packages))
    except (LookupError, RuntimeError) as error:
        return Outcome(edit, NOTHING, NOTHING, NOTHING, error=str(error))
    finally:
        scratch.restore(saved)
    unknown = edit.moves - before.keys()
    if unknown:
        return Outcome(edit, NOTHING, NOTHING, NOTHING, error=f"unknown assets/checks in the row: {sorted(unknown)}")
    moved = frozenset(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return Outcome(edit, moved, edit.moves - moved, moved - edit.moves)


def run_matrix(edits: Iterable[Edit] = EDITS) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="mutation-matrix-") as directory:
        scratch = Scratch(Path(directory))
        baselines: dict[tuple[Change, ...], dict[str, str]] = {}
        return [run_edit(scratch, edit, baselines) for edit in edits]


def report(outcomes: list[Outcome]) -> str:
    lines = []
    for outcome in outcomes:
        if outcome.error:
            status = f"ERROR {outcome.error}"
        elif outcome.missed or outcome.needless:
            status = f"missed {sorted(outcome.missed)} needless {sorted(outcome.needless)}"
        else:
            status = "ok"
        lines.append(f"{outcome.edit.name:<48} moved {len(outcome.moved):>2}  {status}")
    missed = sum(len(o.missed) for o in outcomes)
    needless = sum(len(o.needless) for o in outcomes)
    errors = sum(1 for o in outcomes if o.error)
    lines.append(f"mutation matrix: {len(outcomes)} edits, {missed} missed, {needless} needless, {errors} broken rows")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="run the edits whose name contains this text")
    parser.add_argument("--list", action="store_true", help="list the edits and their expected moves")
    args = parser.parse_args()
    edits = [e for e in EDITS if not args.only or args.only in e.name]
    if args.list:
        for edit in edits:
            print(f"{edit.name:<48} {edit.row:<45} {sorted(edit.moves)}")
        return 0
    outcomes = run_matrix(edits)
    print(report(outcomes))
    return 0 if all(not (o.error or o.missed or o.needless) for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
