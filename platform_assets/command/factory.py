"""`command_asset`: declare an external program as a provenance-tracked asset in a few lines.

    posterior = command_asset(
        key=["kalman", "posterior"],
        image="kalman",
        command=["kalman-enkf", "iterate", "--config-file", "{inputs[config]}", "--output-dir", "{out}"],
        inputs={"config": "kalman/cases/{partition_key}/config.json", ...},
        outputs=["posterior.parquet", "summary.parquet"],
        output_prefix="kalman/posterior/{partition_key}",
        program=program_digest(path_of_the_program),
        partitions_def=..., deps=[...],
    )

Placeholders: blob keys may use ``{partition_key}``; command tokens may use
``{inputs[<name>]}`` (staged local path of a declared input), ``{out}`` (the output folder,
also in ``$OUTPUT_PATH``, Nix's ``$out``) and ``{partition_key}``. Only these whole
placeholders are replaced (not ``str.format``), so every other brace is passed through
unchanged: ``sh -c 'echo ${HOME}'`` and ``awk '{print $1}'`` work as written. A
placeholder naming an undeclared input is an error when the asset is defined.

The command template, declared inputs/outputs, program hash and environment are the asset's
`externals`, so each is part of its automatic code version: change any and every partition
becomes stale; change none and identical inputs are never recomputed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from platform_assets.command import k8s
from platform_assets.command.staging import (
    PUBLISHED_MESSAGE_KEY,
    StagingError,
    check_relative,
    publish_outputs,
    stage_inputs,
    staged_name,
)
from platform_assets.provenance import versioned_asset
from resources.settings import raw, settings
from resources.shared.blob import BlobStorage, local_scratch_dir, remove_dir
from resources.shared.images import image_ref
from resources.shared.pods import api_access_op_tags, family_of

PLACEHOLDER = re.compile(r"\{(?:inputs\[([A-Za-z_][\w-]*)\]|(out|partition_key))\}")


def _render(template: str, inputs: Mapping[str, str] | None = None, **values: str) -> str:
    """Replace the whole placeholders ``{inputs[name]}``, ``{out}``, ``{partition_key}``
    (those given); leave every other brace alone."""

    def replace(match: re.Match) -> str:
        name, field = match.groups()
        if name is not None:
            return str(inputs[name]) if inputs is not None and name in inputs else match.group(0)
        return str(values[field]) if field in values else match.group(0)

    return PLACEHOLDER.sub(replace, template)


def _check_placeholders(command: Sequence[str], inputs: Mapping[str, str]) -> None:
    undeclared = sorted(
        {m.group(1) for token in command for m in PLACEHOLDER.finditer(token) if m.group(1)} - set(inputs)
    )
    if undeclared:
        raise dg.DagsterInvalidDefinitionError(
            f"command refers to undeclared inputs {undeclared}; declared: {sorted(inputs)}"
        )


def _check_declared_paths(inputs: Mapping[str, str], outputs: Sequence[str], output_prefix: str) -> None:
    """Declared inputs, outputs and the output prefix are relative paths that stay where they
    are declared (no absolute path, no '..'): refused when the asset is defined."""
    try:
        for name, key in inputs.items():
            check_relative(f"input {name!r}", key)
        for output in outputs:
            check_relative("declared output", output)
        check_relative("output_prefix", output_prefix)
    except StagingError as error:
        raise dg.DagsterInvalidDefinitionError(str(error)) from None


def _rendered_keys(inputs: Mapping[str, str], output_prefix: str, partition_key: str) -> tuple[dict[str, str], str]:
    """Blob keys of this partition; a partition key that makes one climb out (``../case-a``)
    fails the step without staging anything."""
    try:
        keys = {
            name: check_relative(f"input {name!r}", _render(t, partition_key=partition_key))
            for name, t in inputs.items()
        }
        return keys, check_relative("output_prefix", _render(output_prefix, partition_key=partition_key))
    except StagingError as error:
        raise dg.Failure(description=f"partition {partition_key!r}: {error}", allow_retries=False) from None


def _merged_pipes_metadata(invocation) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for result in invocation.get_results():
        if isinstance(result, dg.MaterializeResult):
            metadata.update(result.metadata or {})
    return metadata


def _run_local(context, *, blob, command, inputs, outputs, output_prefix, env, partition_key):
    """Stage, run, publish in a private temp dir that is removed whatever happens."""
    workdir = local_scratch_dir(f"{context.asset_key.to_python_identifier()}-")
    try:
        staged = stage_inputs(blob, inputs, workdir / "in")
        out = workdir / "out"
        out.mkdir()
        argv = [
            _render(token, inputs={k: str(v) for k, v in staged.items()}, out=str(out), partition_key=partition_key)
            for token in command
        ]
        context.log.info(f"running {argv}")
        invocation = context.resources.pipes.run(
            context=context,
            command=argv,
            env={"OUTPUT_PATH": str(out), **env},
            cwd=str(workdir / "in"),
            writable=[str(out)],
        )
        version = publish_outputs(
            blob, out, output_prefix, outputs, manifest={"run_id": context.run.run_id, "partition": partition_key}
        )
        return _merged_pipes_metadata(invocation), version
    except StagingError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
    finally:
        remove_dir(workdir)


def _run_k8s(context, *, image, command, inputs, outputs, output_prefix, env, partition_key, k8s_resources):
    work_in = Path(k8s.WORK) / "in"
    staged = {name: str(work_in / staged_name(key)) for name, key in inputs.items()}
    argv = [_render(token, inputs=staged, out=f"{k8s.WORK}/out", partition_key=partition_key) for token in command]
    pod_spec = k8s.command_pod_spec(
        image=image,
        command=argv,
        inputs=inputs,
        output_prefix=output_prefix,
        declared_outputs=outputs,
        blob_env={name: value for name in k8s.BLOB_ENV if (value := raw(name))},
        program_env=env,
        resources=k8s_resources,
    )
    invocation = context.resources.pipes.run(
        context=context, base_pod_spec=pod_spec, base_pod_meta=k8s.command_pod_meta(family_of(context.asset_key))
    )
    return _merged_pipes_metadata(invocation), published_version(invocation.get_custom_messages())


def published_version(custom_messages: Sequence[Any]) -> str:
    """The version the pod's `publish` container reported (it always reports one after a
    successful publish; the program's own reports are optional)."""
    for payload in reversed(custom_messages):
        if isinstance(payload, Mapping) and payload.get(PUBLISHED_MESSAGE_KEY):
            return str(payload[PUBLISHED_MESSAGE_KEY])
    raise dg.Failure(description="the pod's publish container reported no published version", allow_retries=False)


def published_outputs_missing(blob: BlobStorage, prefix: str, outputs: Sequence[str]) -> str | None:
    """None when `prefix` has a current published version holding every declared output."""
    pointer = blob.current(prefix)
    if pointer is None:
        return f"nothing published under {blob.url_of(prefix)}"
    gone = [name for name in outputs if not blob.exists(f"{pointer['prefix']}/{name}")]
    return f"{gone} gone from {blob.url_of(pointer['prefix'])}" if gone else None


def command_asset(
    *,
    key: str | Sequence[str],
    image: str,
    command: Sequence[str],
    inputs: Mapping[str, str],
    output_prefix: str,
    outputs: Sequence[str] = (),
    program: str | None = None,
    env: Mapping[str, str] | None = None,
    externals: Mapping[str, Any] | None = None,
    k8s_resources: Mapping[str, str] | None = None,
    step_image: str = "base",
    describe: Callable[[BlobStorage, str, str], Mapping[str, Any]] | None = None,
    **asset_kwargs: Any,
) -> dg.AssetsDefinition:
    """An asset computed by running ``command`` (any language) on staged inputs.

    ``inputs``: name -> blob key template; ``outputs``: files the program must write into
    ``{out}`` (checked before publishing); ``output_prefix``: blob prefix published to;
    ``program``: hash of the program (e.g. :func:`program_digest`), so a changed program or
    image recomputes everything; ``env``: the only variables the program gets besides PATH,
    HOME, LANG, LC_ALL, TMPDIR, ``OUTPUT_PATH`` and the Pipes ones (hermetic). ``image`` is the
    program's image (its own pod on k8s); ``step_image`` the image of the Dagster step that
    stages, launches and publishes (it needs the platform code). Both digests are part of the
    code version. ``describe(blob, published_prefix, partition_key)``, run in the step after
    publishing, returns metadata drawn from the published outputs (pictures, previews).
    Other keyword arguments go to `versioned_asset`/`dg.asset`.
    """
    command = [str(token) for token in command]
    inputs = dict(inputs)
    outputs = list(outputs)
    env = dict(env or {})
    _check_placeholders(command, inputs)
    _check_declared_paths(inputs, outputs, output_prefix)
    declared = {
        "command": command,
        "inputs": inputs,
        "outputs": outputs,
        "output_prefix": output_prefix,
        "program": program,
        "env": env,
        "program_image": image_ref(image),
        **(externals or {}),
    }

    @versioned_asset(
        key=key,
        image=step_image,
        k8s_resources={"cpu": "250m", "memory": "512Mi"},
        externals=declared,
        required_resource_keys={"blob", "pipes"},
        output_missing=lambda resources, materialization: published_outputs_missing(
            resources.blob, _render(output_prefix, partition_key=materialization.partition or ""), outputs
        ),
        kinds=asset_kwargs.pop("kinds", None) or {"pipes"},
        # on k8s the step starts the program pod: it needs the API (no other step does)
        op_tags={**api_access_op_tags(), **(asset_kwargs.pop("op_tags", None) or {})},
        **asset_kwargs,
    )
    def command_output(context: dg.AssetExecutionContext):
        blob: BlobStorage = context.resources.blob
        partition_key = context.partition_key if context.has_partition_key else ""
        keys, prefix = _rendered_keys(inputs, output_prefix, partition_key)
        common = dict(
            command=command, inputs=keys, outputs=outputs, output_prefix=prefix, env=env, partition_key=partition_key
        )
        if settings().is_k8s:
            metadata, version = _run_k8s(context, image=image, k8s_resources=k8s_resources, **common)
        else:
            metadata, version = _run_local(context, blob=blob, **common)
        if describe is not None:  # pictures and previews of what was just published
            metadata.update(describe(blob, version, partition_key))
        metadata.update(
            {
                "platform/published": dg.MetadataValue.path(blob.url_of(version)),
                "platform/output_prefix": dg.MetadataValue.path(blob.url_of(prefix)),
                "platform/inputs": dg.MetadataValue.json(keys),
            }
        )
        # No data_version: the output is stochastic, so Dagster records the logical version
        # (code version + input data versions) and downstream does not cascade on noise.
        return dg.MaterializeResult(metadata=metadata)

    return command_output
