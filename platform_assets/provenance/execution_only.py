"""The one reviewed list of project code that runs in a step without shaping its output.

Everything else a step executes must be inside the asset's hashed closure; the tracing
test (`tests/provenance/test_tracing.py`) runs every asset of the code location and fails
on any executed project function that is neither hashed nor listed here. Entries here are
left out of code versions on purpose: editing them never recomputes anything, so each one
says why it cannot change what an asset produces. Patterns are `module:qualname` globs.

Adding an entry is a review decision, like changing a hash: when in doubt, leave it out
(an unlisted function is hashed, which at worst recomputes once too often).
"""

from __future__ import annotations

from functools import lru_cache

EXECUTION_ONLY: dict[str, str] = {
    # the machinery that decides whether to compute and records provenance
    "platform_assets.provenance.*:*": (
        "the provenance core: compares versions, skips, records; it never computes an output "
        "(its own behaviour is tested by tests/provenance/)"
    ),
    # where the platform runs, not what it computes
    "resources.settings:*": (
        "environment variables (URLs, endpoints, topics, secrets, PLATFORM_ENV): where things live, "
        "never how outputs are computed; a setting that shapes outputs must be run config"
    ),
    "resources.lazy_imports:*": "imports a library on first use; the library's version is hashed separately",
    # resource life cycle and connection plumbing
    "resources.*:*.teardown_after_execution": "closes connections and clients after the step",
    "resources.cts.client:CtsClient.close": "closes the HTTP client",
    "resources.cts.client:CtsClient._backoff": "how long to wait between retries",
    "resources.cts.deadline_http:*": (
        "bounds each CTS request's wall-clock time (connection plumbing): an answer is the same or an error"
    ),
    "resources.nlp.goals_db:GoalsDatabase.dispose": "closes the connection pool",
    "resources.nlp.goals_db:GoalsDatabase.engine": "connection pool and timeouts of the database driver",
    "resources.nlp.goals_db:GoalsDatabase._with_retries": "reconnects after transient connection errors",
    "resources.nlp.goals_db:GoalsDatabase.connect": "opens a connection (with retries)",
    "resources.nlp.goals_db:GoalsDatabase.begin": "opens a transaction (with retries)",
    "resources.nlp.goals_db:GoalsDatabase.safe_location": "names the database in error messages",
    "resources.nlp.goals_db:_is_connection_error": "classifies errors for retrying",
    "resources.nlp.goals_db:_without_password": "redacts error messages",
    "resources.propagation.dask:DaskResource.*": (
        "Dask client and LocalCluster plumbing: where chunks run (chunk results are merged in a fixed order)"
    ),
    "resources.cts.spark:SparkResource.spark_session": (
        "starts the Spark session; its configuration (spark_config) is hashed with the resource"
    ),
    "resources.shared.blob:BlobStorage._s3": "creates the S3 client",
    "resources.shared.pipes:_stream_output": "forwards program output to the event log",
    "resources.shared.pipes:_pump": "forwards program output to the event log",
    # pictures of outputs, drawn after they are published: metadata for reviewers, not data
    "platform_assets.pictures:*": "turns a figure into PNG/markdown metadata",
    "platform_assets.kalman.pictures:*": (
        "the posterior picture and its distance to a shipped truth, drawn from the published "
        "outputs into metadata (a new picture must not re-run the stochastic filter)"
    ),
}

# Distributions of the orchestration layer: upgrading them changes how steps are run and
# recorded, not what an asset computes. Every other distribution an asset's closure imports
# enters its code version with its installed version.
EXECUTION_ONLY_PACKAGES: dict[str, str] = {
    "dagster": "the orchestrator",
    "dagster-*": "Dagster integrations (clients, executors, I/O plumbing)",
    "dagster-pipes": "the protocol external programs report through",
    "dagster-shared": "the orchestrator",
    "pydantic": "run-config parsing (run config is hashed by value)",
    "pydantic-core": "run-config parsing",
    "typing-extensions": "type annotations",
}


def _glob_match(pattern: str, text: str) -> bool:
    """`*` matches any run of characters (the only wildcard the list uses)."""
    first, *middle, last = pattern.split("*") if "*" in pattern else (pattern, pattern)
    if "*" not in pattern:
        return text == pattern
    if not (text.startswith(first) and text.endswith(last)) or len(text) < len(first) + len(last):
        return False
    position, end = len(first), len(text) - len(last)
    for piece in middle:
        found = text.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


@lru_cache(maxsize=8192)
def is_execution_only(module: str, qualname: str) -> bool:
    """Whether `module:qualname` (a function, method, or code nested in one) is listed."""
    outer = qualname.split(".<locals>.")[0]  # code nested in a listed function counts as listed
    names = {f"{module}:{qualname}", f"{module}:{outer}"}
    return any(_glob_match(pattern, name) for pattern in EXECUTION_ONLY for name in names)


@lru_cache(maxsize=1024)
def is_execution_only_package(distribution: str) -> bool:
    normalized = distribution.lower().replace("_", "-").replace(".", "-")
    return any(_glob_match(pattern, normalized) for pattern in EXECUTION_ONLY_PACKAGES)
