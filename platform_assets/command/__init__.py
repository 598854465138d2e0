"""Command assets: the Dagster analogue of Nix's `runCommand`.

An external program (any language) becomes a provenance-tracked asset: inputs are staged
from blob storage into a fresh directory, the program runs through Dagster Pipes, outputs
are published atomically only after success.
"""

from platform_assets.command.factory import command_asset
from platform_assets.command.program import program_digest

__all__ = ["command_asset", "program_digest"]
