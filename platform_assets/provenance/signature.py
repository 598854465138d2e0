"""What an asset or check function's signature declares: resources and run config."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

import dagster as dg


def resolved_signature(fn: Callable[..., Any]) -> inspect.Signature:
    """The function's signature with string annotations (`from __future__ import
    annotations`) resolved, so Dagster sees real types through a wrapper."""
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: let Dagster infer
        hints = {}
    parameters = [
        p.replace(annotation=hints.get(p.name, inspect.Parameter.empty)) for p in signature.parameters.values()
    ]
    return signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty)


def _is_subclass(annotation: Any, base: type | tuple[type, ...]) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, base)


def resource_keys_of(fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> set[str]:
    """Resource keys a function uses: declared ones and typed resource parameters."""
    keys = set(kwargs.get("required_resource_keys") or ())
    for name, parameter in resolved_signature(fn).parameters.items():
        if _is_subclass(parameter.annotation, (dg.ConfigurableResource, dg.ResourceDefinition)):
            keys.add(name)
    return keys


def config_parameter(fn: Callable[..., Any]) -> tuple[str, type[dg.Config]] | None:
    """(name, class) of the function's run-config parameter, if it has one."""
    for name, parameter in resolved_signature(fn).parameters.items():
        if _is_subclass(parameter.annotation, dg.Config) and not _is_subclass(
            parameter.annotation, dg.ConfigurableResource
        ):
            return name, parameter.annotation
    return None
