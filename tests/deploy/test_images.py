"""docker/: Dockerfiles are multi-stage, non-root and pinned; images.json references digests;
build.sh builds base first, pushes, and rewrites images.json with the pushed digests.
(No Docker engine here: the Dockerfiles are checked statically, build.sh against a stand-in
`docker` that records its arguments and reports a digest, as buildx's metadata file does.)"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from resources.shared.images import declared_images
from tests.deploy import tools

pytestmark = pytest.mark.slow  # image build recipes

DOCKER = tools.REPO / "docker"
PINNED = re.compile(r"^[^\s@]+:[^\s@]+@sha256:[0-9a-f]{64}$")  # tag AND digest
IMAGE_NAMES = sorted(json.loads((DOCKER / "images.json").read_text()))
DECLARED = declared_images()


def stages(dockerfile: Path) -> tuple[dict[str, str], list[tuple[str, str | None, list[str]]]]:
    """(global ARG defaults, [(FROM ref, stage name, instructions of the stage)])."""
    args: dict[str, str] = {}
    out: list[tuple[str, str | None, list[str]]] = []
    lines = re.sub(r"\\\n", " ", dockerfile.read_text()).splitlines()
    for line in (ln.strip() for ln in lines):
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            parts = rest.split()
            out.append((parts[0], parts[2] if len(parts) > 2 else None, []))
        elif out:
            out[-1][2].append(line)
        elif word.upper() == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args[key] = value
    return args, out


def test_every_image_has_a_dockerfile_and_a_digest():
    """The Dockerfile is the declaration: images.json (written by docker/build.sh) and the
    chart's offline placeholder name only declared images."""
    assert set(IMAGE_NAMES) <= set(declared_images())
    values = tools.REPO / "helm" / "platform-code-location" / "values.yaml"
    assert set(yaml.safe_load(values.read_text())["images"]) <= set(declared_images())
    refs = json.loads((DOCKER / "images.json").read_text())
    assert all(re.fullmatch(r"[^\s@]+@sha256:[0-9a-f]{64}", ref) for ref in refs.values()), refs


@pytest.mark.parametrize("name", DECLARED)
def test_dockerfile_is_multistage_pinned_and_non_root(name):
    args, stage_list = stages(DOCKER / f"{name}.Dockerfile")
    assert len(stage_list) >= 2, "multi-stage: build tools stay out of the runtime image"
    stage_names = {s[1] for s in stage_list}
    bases = dict(
        line.split("=", 1)
        for line in (DOCKER / "bases.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for ref, _, _ in stage_list:
        if ref in stage_names:
            continue
        var = re.fullmatch(r"\$\{(\w+)\}", ref)
        assert var, f"FROM {ref}: bases come from build args, pinned in bases.env / images.json"
        default = args[var.group(1)]
        if var.group(1) == "BASE_IMAGE":  # our own base, by digest (build.sh passes images.json's)
            assert re.fullmatch(r"[^\s@]+@sha256:[0-9a-f]{64}", default)
        else:
            assert PINNED.match(default), default
            assert default == bases[var.group(1)], f"{var.group(1)} default differs from bases.env"
    final = stage_list[-1][2]
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the runtime stage must switch to a non-root user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric non-root uid (runAsNonRoot can verify it)"


def test_bases_are_pinned_by_tag_and_digest():
    for line in (DOCKER / "bases.env").read_text().splitlines():
        if line and not line.startswith("#"):
            assert PINNED.match(line.split("=", 1)[1]), line


def test_dockerignore_keeps_what_the_images_copy():
    allowed = {
        ln[1:].split("/")[0] for ln in (tools.REPO / ".dockerignore").read_text().splitlines() if ln.startswith("!")
    }
    for dockerfile in DOCKER.glob("*.Dockerfile"):
        for _, _, instructions in stages(dockerfile)[1]:
            for line in instructions:
                if line.startswith("COPY") and "--from=" not in line:
                    for src in line.split()[1:-1]:
                        top = src.split("/")[0]
                        assert top in allowed, f"{dockerfile.name}: COPY {src} is excluded by .dockerignore"
                        assert (tools.REPO / src).exists(), f"{dockerfile.name}: COPY {src} does not exist"


FAKE_DOCKER = r"""#!/usr/bin/env bash
# Stand-in for `docker buildx build`: log the call, write buildx's metadata file with a digest.
echo "$*" >> "$DOCKER_LOG"
meta=""; file=""
while [[ $# -gt 0 ]]; do
  case "$1" in --metadata-file) meta="$2"; shift;; --file) file="$2"; shift;; esac; shift
done
digest="sha256:$(basename "$file" .Dockerfile | sha256sum | cut -c1-64)"
printf '{"containerimage.digest": "%s"}' "$digest" > "$meta"
"""


def test_build_script_pushes_base_first_and_records_digests(tmp_path):
    work = tmp_path / "repo"
    shutil.copytree(DOCKER, work / "docker")
    bases = work / "docker" / "bases.env"
    bases.write_text(re.sub(r"sha256:0{64}", "sha256:" + "1" * 64, bases.read_text()))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    log = tmp_path / "docker.log"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "REGISTRY": "reg.test/dp", "DOCKER_LOG": str(log)}
    proc = subprocess.run(
        ["bash", str(work / "docker" / "build.sh"), "build", "nlp", "base"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    assert "base.Dockerfile" in calls[0] and "nlp.Dockerfile" in calls[1], "base must be built first"
    digest = {n: "sha256:" + hashlib.sha256(f"{n}\n".encode()).hexdigest() for n in ("base", "nlp")}
    assert f"BASE_IMAGE=reg.test/dp/base@{digest['base']}" in calls[1], "nlp builds FROM the new base"
    assert "--push" in calls[0]
    refs = json.loads((work / "docker" / "images.json").read_text())
    assert refs["base"] == f"reg.test/dp/base@{digest['base']}"
    assert refs["nlp"] == f"reg.test/dp/nlp@{digest['nlp']}"
    assert refs["kalman"] == json.loads((DOCKER / "images.json").read_text())["kalman"]


def test_build_script_refuses_placeholder_bases(tmp_path):
    work = tmp_path / "repo"
    shutil.copytree(DOCKER, work / "docker")
    proc = subprocess.run(
        ["bash", str(work / "docker" / "build.sh"), "build"],
        env={**os.environ, "REGISTRY": "reg.test/dp"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "placeholder digests" in proc.stderr
