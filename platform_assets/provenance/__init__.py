"""The provenance core: automatic code versions with a verified closure, skip-when-unchanged
that never shows in the UI, data versions and provenance-driven automation, used by every
asset of every family (docs/provenance.md)."""

from platform_assets.provenance.asset import content_version, versioned_asset
from platform_assets.provenance.automation import platform_automation_condition
from platform_assets.provenance.checks import versioned_check
from platform_assets.provenance.code_version import closure_names, code_version_of, code_version_parts
from platform_assets.provenance.partitions import (
    PartitionDecision,
    partition_decisions,
    partition_materialization,
)
from platform_assets.provenance.programs import program_version
from platform_assets.provenance.skip import (
    CONFIG_METADATA_KEY,
    FORCE_TAG,
    FORCED_METADATA_KEY,
    REASON_METADATA_KEY,
    RERECORDED_METADATA_KEY,
    config_version,
)
from platform_assets.provenance.spec import AssetProvenance, OutputMissing, provenance_of

__all__ = [
    "CONFIG_METADATA_KEY",
    "FORCED_METADATA_KEY",
    "FORCE_TAG",
    "REASON_METADATA_KEY",
    "RERECORDED_METADATA_KEY",
    "AssetProvenance",
    "OutputMissing",
    "PartitionDecision",
    "closure_names",
    "code_version_of",
    "code_version_parts",
    "config_version",
    "content_version",
    "partition_decisions",
    "partition_materialization",
    "platform_automation_condition",
    "program_version",
    "provenance_of",
    "versioned_asset",
    "versioned_check",
]
