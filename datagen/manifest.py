"""The manifest: config used and, per raw table, what staging must produce from it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from datagen.config import GeneratorConfig
from datagen.contract import QUARANTINE_REASONS, RAW_TABLES
from datagen.mess import Expectation

MANIFEST_VERSION = 1
MANIFEST_NAME = "manifest.json"


def build_manifest(
    config: GeneratorConfig, expectations: Mapping[str, Expectation], info: Mapping[str, int]
) -> dict[str, Any]:
    """JSON-serialisable manifest. Per table: raw_rows, expected_staged_rows,
    expected_duplicate_rows and expected_quarantined_rows per reason (all reasons, 0 when
    none injected); raw_rows = staged + duplicates + sum(quarantined)."""
    out: dict[str, Any] = {}
    for name in RAW_TABLES:
        expectation = expectations[name]
        if list(expectation.quarantined) != list(QUARANTINE_REASONS[name]):
            raise AssertionError(f"{name}: reasons {list(expectation.quarantined)} != {QUARANTINE_REASONS[name]}")
        if expectation.staged_rows < 0:
            raise AssertionError(f"{name}: negative staged rows")
        out[name] = expectation.to_dict()
    return {
        "generator": "datagen",
        "manifest_version": MANIFEST_VERSION,
        "config": config.to_dict(),
        "tables": out,
        "info": dict(info),
    }


def write_manifest(manifest: Mapping[str, Any], path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return target
