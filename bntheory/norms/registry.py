"""The layer registry: every part of the suite asks for a layer by name here.

Layers come from four places: the built-in modules of ``bntheory.norms``, entry points in
the group ``bntheory.layers`` of installed packages, the modules named in the environment
variable ``BNTHEORY_LAYER_MODULES`` (comma-separated; each registers its layers when
imported: how the command line finds a layer defined in a single file), and explicit
:func:`register_layer` calls.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Callable
from importlib import metadata

from bntheory.errors import DuplicateLayerError, InvalidArgumentError, UnknownLayerError
from bntheory.norms.base import Normalization

ENTRY_POINT_GROUP = "bntheory.layers"
MODULES_VARIABLE = "BNTHEORY_LAYER_MODULES"

_LAYERS: dict[str, Normalization] = {}
_entry_points_loaded = False


def register_layer(
    layer: Normalization | type[Normalization], *, replace: bool = False
) -> Normalization:
    """Add ``layer`` (an instance or a class) to the registry under ``layer.name``.

    Raises :class:`DuplicateLayerError` if the name is taken, unless ``replace=True``.
    """
    if isinstance(layer, type):
        layer = layer()
    if not isinstance(layer, Normalization):
        raise InvalidArgumentError(
            "register_layer: layer must be a Normalization subclass or instance, "
            f"got {type(layer).__name__}"
        )
    name = layer.name
    if not name or name != name.lower() or not name.replace("_", "").replace("-", "").isalnum():
        raise InvalidArgumentError(
            f"register_layer: layer.name must be a non-empty lower-case identifier, got {name!r}"
        )
    if name in _LAYERS and not replace:
        raise DuplicateLayerError(
            f"register_layer: a layer named {name!r} is already registered "
            f"({type(_LAYERS[name]).__module__}.{type(_LAYERS[name]).__qualname__}); "
            "pass replace=True"
        )
    _LAYERS[name] = layer
    return layer


def unregister_layer(name: str) -> None:
    """Remove a layer (used by tests that register temporary layers)."""
    _LAYERS.pop(name, None)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _LAYERS:
            continue
        obj: Callable = ep.load()
        register_layer(obj)
    for module in filter(
        None, (m.strip() for m in os.environ.get(MODULES_VARIABLE, "").split(","))
    ):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise InvalidArgumentError(
                f"{MODULES_VARIABLE}: cannot import {module!r} ({exc}); "
                "is its directory on PYTHONPATH?"
            ) from None


def layer_names() -> list[str]:
    """Names of all registered layers, sorted."""
    _load_entry_points()
    return sorted(_LAYERS)


def get_layer(name: str) -> Normalization:
    """The registered layer called ``name``.

    Raises :class:`UnknownLayerError` listing the known names (and the closest match).
    """
    _load_entry_points()
    if not isinstance(name, str):
        raise UnknownLayerError(f"layer name must be a string, got {type(name).__name__} {name!r}")
    key = name.strip().lower()
    if key in _LAYERS:
        return _LAYERS[key]
    known = layer_names()
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownLayerError(f"unknown layer {name!r}; known layers: {', '.join(known)}{hint}")
