"""The generic command asset (Nix runCommand analogue) with non-Kalman programs: any
language through Pipes, hermetic staging, atomic publishing, clear failures."""

from __future__ import annotations

import json
import stat
import textwrap

import dagster as dg
import pytest

from platform_assets.command import command_asset, program_digest
from platform_assets.command.factory import published_version
from platform_assets.command.k8s import MESSAGES_FILE, command_pod_spec
from resources.shared.pipes import local_pipes_client

pytestmark = pytest.mark.slow  # runs external programs

# A bash program that speaks the Pipes protocol itself: it decodes the two Pipes params
# (base64 + zlib + JSON, with perl's core modules), reads the asset key from the injected
# context file and appends protocol messages to the messages file.
BASH_PIPES_PROGRAM = textwrap.dedent(
    r"""
    #!/usr/bin/env bash
    set -euo pipefail
    param() {  # param ENV_VAR KEY: decode a Pipes bootstrap param and print one key
      perl -MCompress::Zlib -MMIME::Base64 -MJSON::PP -e \
        'print decode_json(uncompress(decode_base64($ENV{$ARGV[0]})))->{$ARGV[1]}' "$1" "$2"
    }
    messages=$(param DAGSTER_PIPES_MESSAGES path)
    asset_key=$(perl -MJSON::PP -0777 -ne 'print decode_json($_)->{asset_keys}[0]' "$(param DAGSTER_PIPES_CONTEXT path)")
    emit() { printf '{"__dagster_pipes_version": "0.1", "method": "%s", "params": %s}\n' "$1" "$2" >> "$messages"; }

    emit opened '{"extras": {}}'
    lines=$(wc -l < "$1")
    tr 'a-z' 'A-Z' < "$1" > "$OUTPUT_PATH/shout.txt"
    echo "counted $lines lines of $1"
    emit report_asset_materialization \
      "{\"asset_key\": \"$asset_key\", \"data_version\": null, \"metadata\": {\"line_count\": {\"raw_value\": $lines, \"type\": \"int\"}}}"
    emit closed '{}'
    """
).lstrip()


@pytest.fixture
def bash_program(tmp_path):
    path = tmp_path / "shout.sh"
    path.write_text(BASH_PIPES_PROGRAM)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def shout_asset(program_path, **overrides):
    kwargs = dict(
        key=["tools", "shout"],
        image="base",
        command=[str(program_path), "{inputs[text]}"],
        inputs={"text": "tools/in/words.txt"},
        outputs=["shout.txt"],
        output_prefix="tools/shout",
        program=program_digest(program_path),
    )
    return command_asset(**(kwargs | overrides))


def run(asset, instance, blob, **kwargs):
    return dg.materialize(
        [asset],
        instance=instance,
        resources={"blob": blob, "pipes": local_pipes_client()},
        raise_on_error=False,
        **kwargs,
    )


def step_failure(result) -> str:
    failure = next(e for e in result.all_events if e.is_step_failure)
    data = failure.step_failure_data
    return (
        f"{data.error.message}\n{data.user_failure_data.description if data.user_failure_data else ''}\n"
        + json.dumps(
            {k: str(v.value) for k, v in (data.user_failure_data.metadata if data.user_failure_data else {}).items()}
        )
    )


def test_shell_program_reports_materialization_through_pipes(instance, blob, bash_program):
    blob.write_bytes("tools/in/words.txt", b"alpha\nbeta\ngamma\n")
    result = run(shout_asset(bash_program), instance, blob)
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["line_count"].value == 3  # reported by bash over the Pipes protocol
    published = blob.resolve("tools/shout")
    assert blob.read_bytes(f"{published}/shout.txt") == b"ALPHA\nBETA\nGAMMA\n"
    assert metadata["platform/published"].value == blob.url_of(published)
    logs = "\n".join(record.user_message for record in instance.all_logs(result.run_id))
    assert "counted 3 lines" in logs  # program stdout lands in the Dagster event log

    # same input, same program -> no second computation
    assert run(shout_asset(bash_program), instance, blob).get_asset_materialization_events() == []
    # edited program -> new program hash -> new code version -> recomputed
    bash_program.write_text(BASH_PIPES_PROGRAM.replace("counted", "counted exactly"))
    again = run(shout_asset(bash_program), instance, blob)
    assert len(again.get_asset_materialization_events()) == 1


def test_command_template_is_part_of_the_code_version(bash_program):
    base = shout_asset(bash_program)
    other = shout_asset(bash_program, command=[str(bash_program), "{inputs[text]}", "--loud"])
    moved = shout_asset(bash_program, output_prefix="tools/shout2")
    versions = {a.code_versions_by_key[a.key] for a in (base, other, moved)}
    assert len(versions) == 3
    assert shout_asset(bash_program).code_versions_by_key == base.code_versions_by_key


def test_failing_program_fails_clearly_and_publishes_nothing(instance, blob):
    blob.write_bytes("tools/in/words.txt", b"alpha\n")
    failing = command_asset(
        key=["tools", "failing"],
        image="base",
        command=[
            "sh",
            "-c",
            'echo half > "$OUTPUT_PATH/shout.txt"; echo "working on $0"; echo "boom: disk on fire" >&2; exit 3',
            "{inputs[text]}",
        ],
        inputs={"text": "tools/in/words.txt"},
        outputs=["shout.txt"],
        output_prefix="tools/failing",
    )
    result = run(failing, instance, blob)
    assert not result.success
    message = step_failure(result)
    assert "exited with code 3" in message
    assert "boom: disk on fire" in message  # stderr
    assert "working on" in message  # stdout
    assert blob.list("tools/failing") == [] and blob.current("tools/failing") is None
    assert result.get_asset_materialization_events() == []


def test_missing_declared_output_is_a_failure(instance, blob):
    blob.write_bytes("tools/in/words.txt", b"alpha\n")
    lazy = command_asset(
        key=["tools", "lazy"],
        image="base",
        command=["sh", "-c", 'echo done > "$OUTPUT_PATH/other.txt"'],
        inputs={"text": "tools/in/words.txt"},
        outputs=["shout.txt"],
        output_prefix="tools/lazy",
    )
    result = run(lazy, instance, blob)
    assert not result.success
    assert "did not write declared outputs ['shout.txt']" in step_failure(result)
    assert blob.list("tools/lazy") == []


def test_missing_input_names_it(instance, blob, bash_program):
    result = run(shout_asset(bash_program), instance, blob)
    assert not result.success
    assert "input 'text' is missing" in step_failure(result)
    assert "tools/in/words.txt" in step_failure(result)


def test_program_sees_only_its_staged_inputs(instance, blob):
    """Hermetic: the working directory holds exactly the declared inputs."""
    blob.write_bytes("tools/in/words.txt", b"alpha\n")
    blob.write_bytes("tools/in/undeclared.txt", b"secret\n")
    lister = command_asset(
        key=["tools", "lister"],
        image="base",
        command=["sh", "-c", 'ls -A . > "$OUTPUT_PATH/listing.txt"'],
        inputs={"text": "tools/in/words.txt"},
        outputs=["listing.txt"],
        output_prefix="tools/lister",
    )
    assert run(lister, instance, blob).success
    assert blob.read_bytes(f"{blob.resolve('tools/lister')}/listing.txt") == b"words.txt\n"


def test_program_sees_only_declared_environment(instance, blob, monkeypatch):
    """Hermetic: worker secrets and settings do not reach the program; declared env does."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-secret")
    monkeypatch.setenv("PLATFORM_UNDECLARED_SETTING", "worker-setting")
    monkeypatch.setenv("LANG", "C.UTF-8")
    blob.write_bytes("tools/in/words.txt", b"alpha\n")
    printer = command_asset(
        key=["tools", "printenv"],
        image="base",
        command=["sh", "-c", 'env > "$OUTPUT_PATH/env.txt"'],
        inputs={"text": "tools/in/words.txt"},
        outputs=["env.txt"],
        output_prefix="tools/printenv",
        env={"TOOL_MODE": "strict"},
    )
    assert run(printer, instance, blob).success
    lines = blob.read_bytes(f"{blob.resolve('tools/printenv')}/env.txt").decode().splitlines()
    seen = dict(line.split("=", 1) for line in lines if "=" in line)
    assert "AWS_SECRET_ACCESS_KEY" not in seen and "PLATFORM_UNDECLARED_SETTING" not in seen
    assert not [name for name in seen if name.startswith(("DAGSTER_HOME", "PLATFORM_", "AWS_"))]
    assert seen["TOOL_MODE"] == "strict" and seen["LANG"] == "C.UTF-8"
    assert "DAGSTER_PIPES_CONTEXT" in seen and "OUTPUT_PATH" in seen


def test_command_with_braces_runs_as_written(instance, blob):
    """Only the declared placeholders are replaced: shell ${VAR} and awk {...} pass through."""
    blob.write_bytes("tools/in/words.txt", b"alpha beta\ngamma delta\n")
    awk = command_asset(
        key=["tools", "awk"],
        image="base",
        command=[
            "sh",
            "-c",
            'awk \'{print $2}\' "$1" > "${OUTPUT_PATH}/second.txt"; echo "{partition_key}{out}" > "${OUTPUT_PATH}/raw.txt"',
            "awk",
            "{inputs[text]}",
        ],
        inputs={"text": "tools/in/words.txt"},
        outputs=["second.txt"],
        output_prefix="tools/awk",
    )
    result = run(awk, instance, blob)
    assert result.success, step_failure(result)
    published = blob.resolve("tools/awk")
    assert blob.read_bytes(f"{published}/second.txt") == b"beta\ndelta\n"
    out = blob.read_bytes(f"{published}/raw.txt").decode().strip()
    assert out.endswith("/out") and "{" not in out  # placeholders inside a token are replaced too


def test_command_naming_an_undeclared_input_is_rejected():
    with pytest.raises(dg.DagsterInvalidDefinitionError, match=r"undeclared inputs \['txet'\]"):
        command_asset(
            key=["tools", "typo"],
            image="base",
            command=["cat", "{inputs[txet]}"],
            inputs={"text": "tools/in/words.txt"},
            output_prefix="tools/typo",
        )


def test_interrupted_publish_leaves_the_previous_output_visible(instance, blob, bash_program, monkeypatch):
    """A failure between the uploads and the pointer write (killed worker, lost network)
    publishes nothing: readers still get the previous, complete version."""
    from platform_assets.provenance import FORCE_TAG
    from resources.shared.blob import CURRENT_POINTER, BlobStorage

    blob.write_bytes("tools/in/words.txt", b"alpha\n")
    assert run(shout_asset(bash_program), instance, blob).success
    before = blob.current("tools/shout")

    blob.write_bytes("tools/in/words.txt", b"changed\n")
    write_bytes = BlobStorage.write_bytes

    def fail_on_pointer(self, key, data):
        if key.endswith(CURRENT_POINTER):
            raise ConnectionError("connection lost before the pointer write")
        return write_bytes(self, key, data)

    monkeypatch.setattr(BlobStorage, "write_bytes", fail_on_pointer)
    result = run(shout_asset(bash_program), instance, blob, tags={FORCE_TAG: "true"})
    monkeypatch.undo()
    assert not result.success
    assert result.get_asset_materialization_events() == []
    assert blob.current("tools/shout") == before
    assert blob.read_bytes(f"{blob.resolve('tools/shout')}/shout.txt") == b"ALPHA\n"


def test_k8s_pod_runs_stage_in_program_publish_in_order(monkeypatch):
    """The pod PipesK8sClient would create (built offline with dagster-k8s): restricted and
    hardened; storage credentials only in the staging containers."""
    from dagster_k8s.pipes import build_pod_body
    from kubernetes.client import ApiClient

    from tests.deploy.pod_security import manifest_violations

    aws_key = {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "aws", "key": "secret"}}}
    monkeypatch.setenv("PLATFORM_K8S_SECRETS", json.dumps({"shared": [aws_key], "families": {}}))
    monkeypatch.setenv("PLATFORM_K8S_PROGRAM_SERVICE_ACCOUNT", "programs")

    spec = command_pod_spec(
        image="kalman",
        command=["kalman-enkf", "iterate", "--config-file", "/work/in/config.json"],
        inputs={"config": "kalman/cases/a/config.json"},
        output_prefix="kalman/posterior/a",
        declared_outputs=["posterior.parquet"],
        blob_env={"PLATFORM_BLOB_URL": "s3://bucket/root"},
    )
    pod = build_pod_body("pod", None, None, {"DAGSTER_PIPES_CONTEXT": "ctx", "DAGSTER_PIPES_MESSAGES": "msg"}, {}, spec)
    init = pod.spec.init_containers
    assert [c.name for c in init] == ["stage-in", "program"] and pod.spec.containers[0].name == "publish"
    assert "kalman@sha256:" in init[1].image and "base@sha256:" in init[0].image
    assert init[1].command[-4:] == ["kalman-enkf", "iterate", "--config-file", "/work/in/config.json"]
    program_env = {e.name: e.value for e in init[1].env}
    assert program_env["DAGSTER_PIPES_CONTEXT"] == "ctx"  # injected by PipesK8sClient
    from dagster_pipes import decode_param

    assert decode_param(program_env["DAGSTER_PIPES_MESSAGES"]) == {"path": MESSAGES_FILE}
    assert "PLATFORM_BLOB_URL" not in program_env  # the program gets no blob access
    assert "AWS_SECRET_ACCESS_KEY" not in program_env and not any(e.value_from for e in init[1].env)
    assert {e.name for e in init[0].env if e.value_from} == {"AWS_SECRET_ACCESS_KEY"}
    assert pod.spec.restart_policy == "Never"
    assert manifest_violations({"kind": "Pod", **ApiClient().sanitize_for_serialization(pod)}) == []


def test_k8s_staging_containers_stage_publish_and_relay_pipes_messages(tmp_path, monkeypatch, capsys):
    """Run the pod's stage-in and publish entry points (as their containers would)."""
    from platform_assets.command import staging
    from resources.shared.blob import BlobStorage

    monkeypatch.setenv("PLATFORM_BLOB_URL", f"file://{tmp_path}/blob")
    blob = BlobStorage(url=f"file://{tmp_path}/blob")
    blob.write_bytes("cases/a/config.json", b"{}")
    work = tmp_path / "work"
    spec = {"inputs": {"config": "cases/a/config.json"}, "dest": str(work / "in")}
    assert staging.main(["stage-in", json.dumps(spec)]) == 0
    assert (work / "in" / "config.json").read_bytes() == b"{}"

    # the program ran: it wrote an output and its Pipes messages to the shared file
    (work / "out").mkdir()
    (work / "out" / "posterior.parquet").write_bytes(b"data")
    (work / "pipes").mkdir()
    report = {"asset_key": "kalman/posterior", "data_version": None, "metadata": {"n": {"raw_value": 3, "type": "int"}}}
    (work / "pipes" / "messages.jsonl").write_text(
        json.dumps({"__dagster_pipes_version": "0.1", "method": "report_asset_materialization", "params": report})
        + "\n"
    )
    publish = {
        "out": str(work / "out"),
        "prefix": "posterior/a",
        "declared": ["posterior.parquet"],
        "messages": str(work / "pipes" / "messages.jsonl"),
    }
    capsys.readouterr()
    assert staging.main(["publish", json.dumps(publish)]) == 0
    version = blob.resolve("posterior/a")
    assert blob.read_bytes(f"{version}/posterior.parquet") == b"data"
    relayed = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    program_report, own_report = relayed
    assert program_report["params"]["metadata"]["n"]["raw_value"] == 3  # relayed unchanged
    assert published_version([own_report["params"]["payload"]]) == version

    # a program that reports nothing over Pipes: the publish container still reports the version
    (work / "pipes" / "messages.jsonl").unlink()
    assert staging.main(["publish", json.dumps(publish)]) == 0
    (silent_report,) = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert published_version([silent_report["params"]["payload"]]) == blob.resolve("posterior/a") != version
    version = blob.resolve("posterior/a")
    with pytest.raises(dg.Failure, match="reported no published version"):
        published_version([])

    # a missing declared output: non-zero exit, nothing new published
    publish["declared"] = ["summary.parquet"]
    assert staging.main(["publish", json.dumps(publish)]) == 1
    assert blob.resolve("posterior/a") == version
