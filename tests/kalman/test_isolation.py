"""Attacks on the local runner of external programs, tried as a program would try them.

Each test runs a real program through a command asset (`dg.materialize`, the local Pipes
runner, bubblewrap) and checks that the attack recovers nothing: the worker's environment
through `/proc`, files outside the staged folder, another case's inputs, the network, a
symbolic link smuggling a worker file into the published outputs.
"""

from __future__ import annotations

import json
import socket
import stat
import warnings

import dagster as dg
import pytest

from platform_assets.command import command_asset
from platform_assets.kalman.assets import case_inputs, posterior
from platform_assets.kalman.cases import case_key
from platform_assets.kalman.partitions import kalman_cases
from resources.shared import sandbox as sandbox_module
from resources.shared.pipes import LoggedPipesSubprocessClient, local_pipes_client
from tests.kalman.helpers import write_demo_case
from tests.kalman.test_command_asset import run, step_failure

pytestmark = pytest.mark.slow  # runs external programs

WORKER_SECRETS = {"CTS_ADMIN_TOKEN": "cts-token-of-the-worker", "AWS_SECRET_ACCESS_KEY": "aws-key-of-the-worker"}


def shell_asset(name: str, script: str, outputs=("result.txt",), **kwargs) -> dg.AssetsDefinition:
    return command_asset(
        key=["tools", name],
        image="base",
        command=["sh", "-c", script, "sh", "{inputs[text]}"],
        inputs={"text": "tools/in/words.txt"},
        outputs=list(outputs),
        output_prefix=f"tools/{name}",
        **kwargs,
    )


def published_text(blob, prefix: str, name: str) -> str:
    return blob.read_bytes(f"{blob.resolve(prefix)}/{name}").decode(errors="replace")


def test_this_machine_has_a_working_sandbox():
    """`make test` installs bubblewrap (`make system-deps`): the attacks below must meet it."""
    assert sandbox_module.local_sandbox() is not None, sandbox_module.probe(sandbox_module.shutil.which("bwrap"))[1]


def test_parent_environment_reveals_no_worker_secret(instance, blob, monkeypatch):
    """`tr '\\0' '\\n' </proc/$PPID/environ` (and every other /proc/*/environ the program
    can see) holds only the program's own declared environment."""
    for name, value in WORKER_SECRETS.items():
        monkeypatch.setenv(name, value)
    blob.write_bytes("tools/in/words.txt", b"alpha\n")
    spy = shell_asset(
        "environ",
        "tr '\\0' '\\n' </proc/$PPID/environ > \"$OUTPUT_PATH/result.txt\"; "
        'for p in /proc/[0-9]*; do tr "\\0" "\\n" < "$p/environ"; done > "$OUTPUT_PATH/all.txt" 2>/dev/null; true',
        outputs=("result.txt", "all.txt"),
    )
    result = run(spy, instance, blob)
    assert result.success, step_failure(result)
    parent = published_text(blob, "tools/environ", "result.txt")
    everything = published_text(blob, "tools/environ", "all.txt")
    assert "PATH=" in parent, "the attack must have read a real environment"
    for value in WORKER_SECRETS.values():
        assert value not in parent and value not in everything


def test_files_outside_the_staged_folder_cannot_be_read(instance, blob, tmp_path):
    """A program naming an absolute path of the worker (blob storage of an undeclared input,
    a file next to the test) reads nothing; its inputs are read-only."""
    blob.write_bytes("tools/in/words.txt", b"alpha\n")
    blob.write_bytes("tools/in/undeclared.txt", b"undeclared secret\n")
    worker_file = tmp_path / "worker-secret.txt"
    worker_file.write_text("worker secret\n")
    targets = [str(blob._root_path / "tools/in/undeclared.txt"), str(worker_file)]
    script = (
        "for f in " + " ".join(f"'{t}'" for t in targets) + '; do cat "$f"; done > "$OUTPUT_PATH/result.txt" 2>&1; '
        '{ echo changed > "$1"; } 2>> "$OUTPUT_PATH/result.txt"; true'
    )
    result = run(shell_asset("reader", script), instance, blob)
    assert result.success, step_failure(result)
    seen = published_text(blob, "tools/reader", "result.txt")
    assert "undeclared secret" not in seen and "worker secret" not in seen
    assert seen.count("No such file or directory") == 2 and "Read-only file system" in seen
    assert blob.read_bytes("tools/in/words.txt") == b"alpha\n"


def test_program_has_no_network(instance, blob):
    """A listener on the worker's loopback is not reachable from the program."""
    blob.write_bytes("tools/in/words.txt", b"alpha\n")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        server.settimeout(0.2)
        script = f'bash -c "echo hello > /dev/tcp/127.0.0.1/{port}" > "$OUTPUT_PATH/result.txt" 2>&1; true'
        result = run(shell_asset("network", script), instance, blob)
        assert result.success, step_failure(result)
        with pytest.raises(TimeoutError):
            server.accept()
    assert "Connection refused" in published_text(blob, "tools/network", "result.txt")


def test_a_symbolic_link_in_the_outputs_is_not_published(instance, blob, tmp_path):
    """The publisher runs with the worker's rights: a link to a worker file must fail the step,
    not copy the file into blob storage."""
    blob.write_bytes("tools/in/words.txt", b"alpha\n")
    worker_file = tmp_path / "worker-secret.txt"
    worker_file.write_text("worker secret\n")
    smuggler = shell_asset("smuggler", f'ln -s {worker_file} "$OUTPUT_PATH/result.txt"')
    result = run(smuggler, instance, blob)
    assert not result.success
    assert "output 'result.txt' is a symbolic link" in step_failure(result)
    assert blob.current("tools/smuggler") is None
    assert not [info for info in blob.list("tools/smuggler")]


@pytest.mark.parametrize("pointer", ["absolute", "relative"])
def test_a_kalman_case_cannot_read_another_cases_prior(instance, blob, pointer):
    """Case b's config names case a's prior (by its absolute path in blob storage, or as
    '../case-a/prior.parquet'): the run fails naming that path, nothing is published."""
    write_demo_case(blob, "case-a", seed=1)
    write_demo_case(blob, "case-b", seed=2)
    target = str(blob._root_path / case_key("case-a", "prior.parquet"))
    value = target if pointer == "absolute" else "../case-a/prior.parquet"
    config = json.loads(blob.read_bytes(case_key("case-b", "config.json")))
    blob.write_bytes(case_key("case-b", "config.json"), json.dumps(config | {"prior": value}).encode())
    instance.add_dynamic_partitions(kalman_cases.name, ["case-a", "case-b"])

    result = dg.materialize(
        [case_inputs, posterior],
        partition_key="case-b",
        instance=instance,
        resources={"blob": blob, "pipes": local_pipes_client()},
        raise_on_error=False,
    )
    assert not result.success
    message = step_failure(result)
    assert "exited with code 2" in message and value in message
    assert blob.current("kalman/posterior/case-b") is None
    assert result.get_asset_materialization_events() == []


def test_a_partition_key_cannot_lead_inputs_out_of_their_folder(instance, blob):
    """A dynamic partition named '../case-a' would stage another case's files: refused
    before anything is staged."""
    cases = dg.DynamicPartitionsDefinition(name="isolation_cases")
    reader = command_asset(
        key=["tools", "case_reader"],
        image="base",
        command=["cat", "{inputs[data]}"],
        inputs={"data": "tools/cases/{partition_key}/data.txt"},
        output_prefix="tools/case_reader/{partition_key}",
        partitions_def=cases,
    )
    blob.write_bytes("tools/case-a/data.txt", b"a's data\n")
    instance.add_dynamic_partitions(cases.name, ["../case-a"])
    result = run(reader, instance, blob, partition_key="../case-a")
    assert not result.success
    assert "partition '../case-a': input 'data' must be a relative path without" in step_failure(result)


@pytest.mark.parametrize(
    "field, value",
    [
        ("inputs", {"data": "/etc/passwd"}),
        ("inputs", {"data": "tools/../../secrets.txt"}),
        ("outputs", ["../escaped.txt"]),
        ("output_prefix", "/abs/prefix"),
    ],
)
def test_declared_paths_must_be_relative(field, value):
    kwargs = dict(
        key=["tools", "bad"],
        image="base",
        command=["true"],
        inputs={"data": "tools/in/words.txt"},
        outputs=["x.txt"],
        output_prefix="tools/bad",
    )
    with pytest.raises(dg.DagsterInvalidDefinitionError, match="must be a relative path"):
        command_asset(**(kwargs | {field: value}))


def test_without_bubblewrap_the_platform_warns_once(tmp_path, monkeypatch):
    """A machine where bwrap is missing or cannot create namespaces: one clear warning, then
    programs still run (unisolated)."""
    broken = tmp_path / "bwrap"
    broken.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    sandbox, reason = sandbox_module.probe(str(broken))
    assert sandbox is None and "No permissions to create new namespace" in reason
    assert sandbox_module.probe(None)[1] == "bubblewrap (`bwrap`) is not installed"

    monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: None)
    sandbox_module.local_sandbox.cache_clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            first, second = local_pipes_client(), local_pipes_client()
        relevant = [w for w in caught if issubclass(w.category, sandbox_module.SandboxUnavailable)]
        assert len(relevant) == 1 and "no security boundary" in str(relevant[0].message)
        assert first.sandbox is None and second.sandbox is None
    finally:
        sandbox_module.local_sandbox.cache_clear()


def test_unsandboxed_runner_still_speaks_pipes(instance, blob):
    blob.write_bytes("tools/in/words.txt", b"alpha\nbeta\n")
    counter = shell_asset("count", 'wc -l < "$1" > "$OUTPUT_PATH/result.txt"')
    client = LoggedPipesSubprocessClient(env={}, sandbox=None)
    result = dg.materialize([counter], instance=instance, resources={"blob": blob, "pipes": client})
    assert result.success
    assert published_text(blob, "tools/count", "result.txt").strip() == "2"
