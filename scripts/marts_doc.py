"""Write docs/marts.md: every mart and export for BI users, from the models' own YAML.

For each model under models/marts/ and models/exports/: what it is, its grain
and keys (read from its unique / unique_combination tests), how it refreshes
(read from its materialization), and every column with its type and
description. The YAML is the one source; `--check` fails when docs/marts.md
is stale (a test runs it), so the page cannot drift from the contracts.

    python scripts/marts_doc.py            # rewrite docs/marts.md
    python scripts/marts_doc.py --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "marts.md"
FOLDERS = [("Core marts", "models/marts/core"), ("Marketing marts", "models/marts/marketing"),
           ("Exports (what activation reads)", "models/exports")]

HEADER = """# Marts and exports: a guide for BI users

Generated from the models' YAML by `scripts/marts_doc.py`; do not edit by hand.

Every table below is a **contract**: column names and types are enforced by
dbt (`contract: enforced`), every column is documented, and the keys are
tested on every build. Marts live in the `marts` schema, exports in
`exports`. Relative windows ("last 30 days") are measured from the build's
`as_of` (default: when the build started), shown in each table's
`computed_as_of` column where it has one.

**Refresh:** a `table` is rebuilt from scratch by every `dbt build`;
an `incremental` table keeps its rows and the build writes only what changed.
"""


def _grain(model: dict[str, Any]) -> list[str]:
    keys: list[str] = []
    for test in model.get("data_tests", []) or []:
        if isinstance(test, dict) and "unique_combination" in test:
            args = test["unique_combination"].get("arguments", test["unique_combination"])
            keys = list(args["columns"])
    if keys:
        return keys
    for column in model.get("columns", []):
        for test in column.get("data_tests", []) or column.get("tests", []) or []:
            if test == "unique" or (isinstance(test, dict) and "unique" in test):
                return [column["name"]]
    return []


def _refresh(sql: str) -> str:
    match = re.search(r"materialized\s*=\s*'(\w+)'", sql)
    kind = match.group(1) if match else "table"
    if kind == "incremental":
        return "incremental (rows kept across builds; each build writes what changed)"
    return "table (rebuilt by every dbt build)"


def _clean(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def render() -> str:
    parts = [HEADER]
    for title, folder in FOLDERS:
        parts.append(f"\n## {title}\n")
        for path in sorted((ROOT / folder).rglob("*.yml")):
            document = yaml.safe_load(path.read_text()) or {}
            for model in document.get("models", []):
                sql_path = path.with_suffix(".sql")
                sql = sql_path.read_text() if sql_path.exists() else ""
                schema = "exports" if folder.endswith("exports") else "marts"
                keys = _grain(model)
                parts.append(f"\n### `{schema}.{model['name']}`\n")
                parts.append(f"\n{_clean(model.get('description'))}\n")
                parts.append(f"\n- **Grain / key:** one row per {', '.join(f'`{k}`' for k in keys) or '(no tested key)'}")
                parts.append(f"\n- **Refresh:** {_refresh(sql)}")
                parts.append(f"\n- **Defined in:** `{path.relative_to(ROOT).with_suffix('.sql')}`\n")
                parts.append("\n| column | type | description |\n|---|---|---|")
                for column in model.get("columns", []):
                    parts.append(
                        f"\n| `{column['name']}` | {column.get('data_type', '')} | {_clean(column.get('description'))} |"
                    )
                parts.append("\n")
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/marts.md is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is out of date: run python scripts/marts_doc.py", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
