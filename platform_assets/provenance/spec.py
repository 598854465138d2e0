"""What `versioned_asset` knows about an asset, kept on the asset for the rest of the core.

The skip decision, the hand-on to children in the same run, the preview and the tracing
test all need the same facts: the asset function, its code version and what went into it,
its run-config parameter, its execution-only config fields and how to tell that its
recorded output still exists. `versioned_asset` attaches them to the function Dagster
calls; `provenance_of(assets_def)` reads them back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import dagster as dg

from platform_assets.provenance.code_version import closure_names, code_version_parts
from platform_assets.provenance.dagster_internals import compute_function

ATTRIBUTE = "platform_provenance"


class OutputMissing(Protocol):
    """How an asset tells whether its recorded output still exists.

    Called with the step's resources (attribute access by resource key, as
    `context.resources`) and the latest materialization (its metadata says where the
    output went). Returns None when the output is intact, else what is missing; a missing
    output is recomputed even when nothing else changed."""

    def __call__(self, resources: Any, materialization: dg.AssetMaterialization) -> str | None: ...


@dataclass(frozen=True, eq=False)
class AssetProvenance:
    fn: Callable[..., Any]
    code_version: str
    externals: Mapping[str, Any] = field(default_factory=dict)
    packages: tuple[str, ...] = ()
    resource_keys: frozenset[str] = frozenset()
    config_param: str | None = None
    config_class: type[dg.Config] | None = None
    execution_only_config: frozenset[str] = frozenset()
    output_missing: OutputMissing | None = None
    decides_per_partition: bool = False

    @property
    def hooks(self) -> dict[str, Any]:
        """Functions of the asset besides its body that run in its step (hashed too)."""
        return {"output_missing": self.output_missing} if self.output_missing is not None else {}

    @cached_property
    def parts(self) -> dict[str, str]:
        """What the code version hashes, by name (see `code_version_parts`)."""
        return code_version_parts(
            self.fn,
            externals=self.externals,
            packages=self.packages,
            resource_keys=self.resource_keys,
            values=self.hooks,
        )

    @cached_property
    def closure(self) -> frozenset[str]:
        """`module:qualname` of every function the code version hashes (for the tracer)."""
        return closure_names(self.fn, resource_keys=self.resource_keys, values=self.hooks)

    def config_version(self, config: Any) -> str | None:
        """Hash of a run-config value (a `dg.Config` or its resolved dict) without the
        execution-only fields; None for assets without run config."""
        return config_version_of(config, self.execution_only_config)

    def config_from_op_config(self, op_config: Any) -> Any:
        """The config object the function would receive for this resolved op config."""
        if self.config_class is None:
            return op_config
        return self.config_class(**(op_config or {}))


def config_version_of(config: Any, execution_only: frozenset[str] | set[str] = frozenset()) -> str | None:
    if isinstance(config, dg.Config):
        config = config.model_dump(mode="json")
    if isinstance(config, Mapping):
        config = {k: v for k, v in config.items() if k not in execution_only}
    if not config:
        return None
    canonical = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def provenance_of(assets_def: dg.AssetsDefinition) -> AssetProvenance | None:
    """The provenance facts of a `versioned_asset` (None for any other asset)."""
    return getattr(compute_function(assets_def), ATTRIBUTE, None)
