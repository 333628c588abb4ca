"""Seeded test profiles ("scenarios") that mimic each kind of contact.

``activation/templates/email/scenarios.yml`` holds one profile per scenario
(abandoned cart, browse only, VIP, brand-new subscriber at every fallback, ...),
each shaped exactly like a decoded row of the export: the contract's columns,
json columns as lists of objects. They let you preview and test templates
without a warehouse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from activation import yamlfile
from activation.contract import ExportContract
from activation.errors import ConfigError
from activation.templates import TEMPLATES_DIR

SCENARIOS_PATH = TEMPLATES_DIR / "scenarios.yml"
_NAME = re.compile(r"\A[a-z][a-z0-9_]*\Z")


@dataclass(frozen=True)
class Scenario:
    """One seeded profile: a name, what it mimics, and its template variables."""

    name: str
    description: str
    variables: dict[str, Any]


def read_scenarios(path: Path = SCENARIOS_PATH) -> dict[str, Scenario]:
    """The scenarios in `path`, in file order, not yet checked against the contract."""
    try:
        document = yamlfile.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"scenario file not found: {path}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    entries = (document or {}).get("scenarios")
    if not isinstance(entries, Mapping) or not entries:
        raise ConfigError(f"{path} needs a top-level `scenarios:` mapping of name -> {{description, variables}}")
    scenarios = {}
    for name, entry in entries.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{path}: scenario name {name!r} must be lower_snake_case")
        if not isinstance(entry, Mapping) or not isinstance(entry.get("variables"), Mapping):
            raise ConfigError(f"{path}: scenario {name} needs a `variables:` mapping (one value per export column)")
        scenarios[name] = Scenario(name, str(entry.get("description") or ""), dict(entry["variables"]))
    return scenarios


def load_scenarios(contract: ExportContract, path: Path = SCENARIOS_PATH) -> dict[str, Scenario]:
    """The scenarios in `path`, each checked to match the export contract exactly."""
    scenarios = read_scenarios(path)
    problems = [
        f"  {scenario.name}: {problem}"
        for scenario in scenarios.values()
        for problem in contract.problems(scenario.variables)
    ]
    if problems:
        raise ConfigError(
            f"{path} does not match the export contract ({contract.path}); fix the profiles:\n" + "\n".join(problems)
        )
    return scenarios


def get_scenario(scenarios: Mapping[str, Scenario], name: str) -> Scenario:
    """The scenario called `name`, or an error listing the ones that exist."""
    try:
        return scenarios[name]
    except KeyError:
        raise ConfigError(f"unknown scenario {name!r}; available: {', '.join(scenarios)}") from None
