"""The provenance core: automatic code versions, skip-when-unchanged, data versions and
provenance-driven automation, used by every asset of every family."""

from platform_assets.provenance.asset import content_version, versioned_asset
from platform_assets.provenance.automation import platform_automation_condition
from platform_assets.provenance.code_version import code_version_of, code_version_parts
from platform_assets.provenance.partitions import (
    PartitionDecision,
    partition_decisions,
    partition_materialization,
)
from platform_assets.provenance.skip import (
    CONFIG_METADATA_KEY,
    FORCE_TAG,
    FORCED_METADATA_KEY,
    REASON_METADATA_KEY,
    config_version,
)

__all__ = [
    "CONFIG_METADATA_KEY",
    "FORCED_METADATA_KEY",
    "PartitionDecision",
    "partition_decisions",
    "partition_materialization",
    "FORCE_TAG",
    "REASON_METADATA_KEY",
    "code_version_of",
    "config_version",
    "code_version_parts",
    "content_version",
    "platform_automation_condition",
    "versioned_asset",
]
