"""Moving a command's files between blob storage and its private working directory.

The program itself never touches blob storage (hermetic): declared inputs are copied in
before it starts, declared outputs are published after it succeeded, with one atomic
pointer write (`BlobStorage.publish_dir`). Locally the asset step calls these functions;
on k8s the same functions run as the pod's `stage-in` init container and `publish`
container (``python -m platform_assets.command.staging stage-in|publish SPEC_JSON``).
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from resources.settings import settings
from resources.shared.blob import BlobNotFound, BlobStorage


class StagingError(RuntimeError):
    """A declared input is missing or a declared output was not produced."""


def check_relative(what: str, value: str) -> str:
    """``value`` (a blob key, key template or output name) if it names a place below its root:
    not absolute, no empty, '.' or '..' segment. Otherwise a `StagingError` naming it: a
    declared input must not reach another case's files, an output must land in its folder."""
    segments = value.split("/")
    if not value or value.startswith("/") or "\0" in value or any(s in ("", ".", "..") for s in segments):
        raise StagingError(f"{what} must be a relative path without empty, '.' or '..' segments, got {value!r}")
    return value


def staged_name(key: str) -> str:
    """File name a staged input gets: the blob key's base name."""
    return key.rstrip("/").rsplit("/", 1)[-1]


def stage_inputs(blob: BlobStorage, inputs: Mapping[str, str], dest: Path) -> dict[str, Path]:
    """Copy each declared input blob into ``dest`` under its file name.

    Inputs keep their base names so relative references between them (a config naming
    ``prior.parquet``) still hold in the staged folder."""
    dest.mkdir(parents=True, exist_ok=True)
    staged: dict[str, Path] = {}
    for name, key in inputs.items():
        target = dest / staged_name(key)
        if target in staged.values():
            raise StagingError(f"inputs {sorted(inputs)} share the file name {target.name!r}")
        try:
            target.write_bytes(blob.read_bytes(key))
        except BlobNotFound as error:
            raise StagingError(f"input {name!r} is missing: {blob.url_of(key)}") from error
        staged[name] = target
    return staged


def publish_outputs(
    blob: BlobStorage,
    out_dir: Path,
    prefix: str,
    declared: Sequence[str],
    manifest: Mapping | None = None,
) -> str:
    """Check that every declared output exists and that ``out_dir`` holds only regular files
    and folders, then publish it atomically as a new version of ``prefix``. Returns the
    published version prefix.

    A symbolic link is refused: the publisher runs with the worker's rights, so a link written
    by the program (``out/x -> /some/worker/file``) would otherwise copy a file the program
    itself cannot read into blob storage."""
    for folder, dirs, files in os.walk(out_dir):
        for name in dirs + files:
            mode = os.lstat(os.path.join(folder, name)).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
                relative = Path(folder, name).relative_to(out_dir)
                raise StagingError(f"output {relative.as_posix()!r} is {kind}; outputs must be regular files")
    missing = [name for name in declared if not (out_dir / name).is_file()]
    if missing:
        raise StagingError(f"program succeeded but did not write declared outputs {missing} in {out_dir}")
    return blob.publish_dir(out_dir, prefix, manifest=dict(manifest or {}))


# ---- container entry points (k8s) ------------------------------------------------------


def _blob_from_env() -> BlobStorage:
    """Outside Dagster no EnvVar gets resolved: read the settings directly."""
    current = settings()
    return BlobStorage(url=current.blob_url, aws_endpoint_url=current.aws_endpoint_url)


def _stage_in(spec: dict) -> None:
    staged = stage_inputs(_blob_from_env(), spec["inputs"], Path(spec["dest"]))
    print(f"staged {len(staged)} inputs into {spec['dest']}", file=sys.stderr)


PUBLISHED_MESSAGE_KEY = "platform/published"


def pipes_message(method: str, params: dict | None) -> dict:
    return {"__dagster_pipes_version": "0.1", "method": method, "params": params}


def _publish(spec: dict) -> None:
    version = publish_outputs(
        _blob_from_env(), Path(spec["out"]), spec["prefix"], spec["declared"], spec.get("manifest")
    )
    # Relay the program's Pipes messages (written to a shared file) on this container's
    # stderr, where PipesK8sClient reads them, and always add this container's own report of
    # where the outputs were published (a custom message, before the program's `closed`), so
    # the step knows the version even when the program reports nothing.
    messages = Path(spec["messages"]) if spec.get("messages") else None
    relayed = (
        [json.loads(line) for line in messages.read_text().splitlines() if line.strip()]
        if (messages is not None and messages.is_file())
        else []
    )
    own = pipes_message("report_custom_message", {"payload": {PUBLISHED_MESSAGE_KEY: version}})
    closed = next((i for i, message in enumerate(relayed) if message.get("method") == "closed"), len(relayed))
    for message in [*relayed[:closed], own, *relayed[closed:]]:
        print(json.dumps(message), file=sys.stderr, flush=True)
    print(f"published {spec['out']} as {version}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m platform_assets.command.staging")
    parser.add_argument("action", choices=["stage-in", "publish"])
    parser.add_argument("spec", help="JSON object")
    args = parser.parse_args(argv)
    try:
        (_stage_in if args.action == "stage-in" else _publish)(json.loads(args.spec))
    except StagingError as error:
        print(f"staging error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
