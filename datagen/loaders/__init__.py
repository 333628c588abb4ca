"""Loaders: copy the raw tables that ``datagen generate`` wrote into a DuckDB file into
another engine, so the same dbt project can run there on the same data.

Each engine is one module beside this file (``postgres.py``, ``spark.py``, ...) with a
function ``load(source, tables, target_schema, on_table) -> list[LoadedTable]``; see
:mod:`datagen.loaders.base` for the shared pieces. ``python -m datagen load --target NAME``
finds the module by name, so adding an engine needs no change here.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from datagen.loaders.base import LoadError

_NOT_ENGINES = frozenset({"base"})


def available_targets() -> list[str]:
    """Names of the loader modules present, e.g. ``['postgres']``."""
    return sorted(
        module.name
        for module in pkgutil.iter_modules(__path__)
        if not module.name.startswith("_") and module.name not in _NOT_ENGINES
    )


def loader_module(target: str) -> ModuleType:
    """The loader module of ``target``; LoadError naming the choices when there is none."""
    targets = available_targets()
    if target not in targets:
        raise LoadError(f"no loader for target {target!r}; available: {', '.join(targets)}")
    return importlib.import_module(f"{__name__}.{target}")
