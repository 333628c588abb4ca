"""Rules that keep the project running on every engine, checked without one.

- Engine differences live in dispatched macros: no `target.type` in models or tests,
  and each engine's implementations in macros/engines/<engine>/.
- Names fit PostgreSQL's 63-character identifiers (models, seeds, tests and unit
  tests become relation names).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ENGINES = ("postgres", "spark")
POSTGRES_MAX_IDENTIFIER = 63
_MACRO = re.compile(r"{%-?\s*macro\s+(\w+)\s*\(")


def test_models_and_tests_never_branch_on_the_engine():
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("models", "tests/dbt")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in {".sql", ".yml"} and re.search(r"target\s*\.\s*type", path.read_text())
    ]
    assert offenders == [], "use a dispatched macro (macros/cross_db/, macros/engines/<engine>/)"


def test_engine_implementations_live_in_their_engine_folder():
    misplaced = []
    for path in (ROOT / "macros").rglob("*.sql"):
        for name in _MACRO.findall(path.read_text()):
            engine = name.split("__", 1)[0] if "__" in name else None
            if engine in ENGINES and path.parent != ROOT / "macros" / "engines" / engine:
                # spark__ implementations written before macros/engines/spark/ existed may stay put
                if engine == "spark" and not (ROOT / "macros" / "engines" / "spark").exists():
                    continue
                misplaced.append(f"{name} in {path.relative_to(ROOT)}")
    assert misplaced == [], "move them to macros/engines/<engine>/"


def _names() -> list[str]:
    names = [path.stem for folder in ("models", "seeds", "tests/dbt") for path in (ROOT / folder).rglob("*.sql")]
    names += [path.stem for path in (ROOT / "seeds").glob("*.csv")]
    for path in (ROOT / "models").rglob("*.yml"):
        document = yaml.safe_load(path.read_text()) or {}
        names += [test["name"] for test in document.get("unit_tests", [])]
    return names


def test_names_fit_postgres_identifiers():
    names = _names()
    assert len(names) > 50
    too_long = sorted(name for name in names if len(name) > POSTGRES_MAX_IDENTIFIER)
    assert too_long == [], f"longer than {POSTGRES_MAX_IDENTIFIER} characters (PostgreSQL truncates or refuses)"
