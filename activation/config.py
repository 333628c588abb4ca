"""Sync declarations: ``syncs.yml``, validated with pydantic.

A sync says what to send (an export model and its key), where (a destination
and the *names* of the environment variables holding its credentials, never
the secrets themselves), and how (a mode plus mappings). Everything is
checked before anything runs, and every problem names the sync, the field and
the fix. pydantic does the checking: it is the standard for typed config in
Python, and its errors carry the exact location of each problem.

Modes:

- ``upsert_profiles``: create or update ESP profiles from template variables.
- ``mirror_lists``: make ESP list membership equal to segment membership.
- ``trigger_events``: send one event per export row (each row is sent once).
- ``propagate_deletions``: erase each requested subject at the ESP and
  tombstone it so no sync sends it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from activation import yamlfile
from activation.errors import ConfigError

DEFAULT_SYNCS_FILE = "syncs.yml"
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class Mode(StrEnum):
    UPSERT_PROFILES = "upsert_profiles"
    MIRROR_LISTS = "mirror_lists"
    TRIGGER_EVENTS = "trigger_events"
    PROPAGATE_DELETIONS = "propagate_deletions"


class NullPolicy(StrEnum):
    """What a null source value does to the mapped destination field."""

    SKIP = "skip"  # leave the destination's value as it is
    CLEAR = "clear"  # send null: the destination clears the field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Destination(Strict):
    type: Literal["klaviyo", "braze", "mailchimp", "webhook"]
    base_url: str | None = Field(
        default=None,
        description="API base URL; None means the vendor's production URL. Point it at a simulator to rehearse.",
    )
    base_url_env: str | None = Field(
        default=None, description="Environment variable that, when set, overrides base_url."
    )
    credentials: dict[str, str] = Field(
        default_factory=dict,
        description="Credential name -> NAME of the environment variable holding it (e.g. api_key: KLAVIYO_API_KEY).",
    )
    settings: dict[str, Any] = Field(default_factory=dict, description="Destination-specific settings.")

    @field_validator("credentials")
    @classmethod
    def _env_names_only(cls, value: dict[str, str]) -> dict[str, str]:
        for name, env in value.items():
            if not ENV_NAME.match(env):
                raise ValueError(
                    f"credentials.{name} must be the NAME of an environment variable (e.g. KLAVIYO_API_KEY), "
                    "never the secret itself"
                )
        return value

    def resolved_base_url(self) -> str | None:
        if self.base_url_env and os.environ.get(self.base_url_env):
            return os.environ[self.base_url_env]
        return self.base_url

    def secret(self, name: str) -> str:
        """The credential `name` from its environment variable; a clear error when unset."""
        env = self.credentials.get(name)
        if env is None:
            raise ConfigError(f"destination {self.type} needs credentials.{name} (an environment variable name)")
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"environment variable {env} (credentials.{name} of the {self.type} destination) is not set")
        return value


class CircuitBreaker(Strict):
    """Abort a list sync that would remove too much: an upstream failure that emptied a model looks like this."""

    max_removed_share: Annotated[float, Field(ge=0, le=1)] = 0.2
    min_list_size: Annotated[int, Field(ge=0)] = 100


class EventSpec(Strict):
    metric: str = Field(description="Event (metric) name at the ESP, e.g. 'Cart Abandoned'.")
    unique_id: str = Field(description="Source column with a deterministic unique id per event.")
    time: str | None = Field(default=None, description="Source column with the event time (UTC).")
    properties: dict[str, str] = Field(default_factory=dict, description="Event property -> source column.")


class Owner(Strict):
    """Who answers for a sync (the owner of its dbt exposure)."""

    name: str | None = None
    email: str | None = None

    @model_validator(mode="after")
    def _something(self) -> Owner:
        if not (self.name or self.email):
            raise ValueError("owner needs a name or an email")
        return self


DEFAULT_OWNER = Owner(name="data-platform")


class Alerts(Strict):
    """When `activation run` posts an alert, and where (the webhook URL comes from an environment variable)."""

    webhook_url_env: str | None = Field(
        default="ACTIVATION_ALERT_WEBHOOK",
        description="NAME of the environment variable holding the webhook URL (unset: alerts are only logged).",
    )
    failed_share: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.05, description="Alert when a sync's failed records exceed this share of the records sent."
    )
    change_factor: Annotated[float, Field(ge=1)] = Field(
        default=3, description="mirror_lists: alert when planned add + remove exceeds this many times the median."
    )
    min_change: Annotated[int, Field(ge=0)] = Field(
        default=50, description="mirror_lists: ... and exceeds this absolute number of changes."
    )
    history_runs: Annotated[int, Field(ge=1)] = Field(
        default=10, description="mirror_lists: the median is over this many previous runs of the sync."
    )
    min_history_runs: Annotated[int, Field(ge=1)] = Field(
        default=3, description="mirror_lists: no change alert until the sync has this many previous runs."
    )

    @field_validator("webhook_url_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.match(value):
            raise ValueError(
                "must be the NAME of an environment variable (e.g. ACTIVATION_ALERT_WEBHOOK), never the URL itself"
            )
        return value


class Sync(Strict):
    name: str
    description: str = ""
    source: str = Field(description="Export model (a relation in the exports schema).")
    key: str = Field(description="Source column that identifies a record (unique per row).")
    email: str = Field(default="email", description="Source column with the contact's email address.")
    destination: Destination
    mode: Mode
    fields: dict[str, str] = Field(
        default_factory=dict, description="Destination field -> source column (upsert_profiles)."
    )
    null_policy: NullPolicy = NullPolicy.SKIP
    segment: str | None = Field(default=None, description="Source column with the segment key (mirror_lists).")
    holdout: str | None = Field(
        default=None, description="Boolean source column: rows where it is true are never sent (control group)."
    )
    lists: dict[str, str] = Field(default_factory=dict, description="Segment key -> ESP list id (mirror_lists).")
    circuit_breaker: CircuitBreaker = CircuitBreaker()
    event: EventSpec | None = None
    mapping_version: int = Field(
        default=1, ge=1, description="Bump to resend every record (e.g. the destination's field semantics changed)."
    )
    owner: Owner | None = Field(default=None, description="Who answers for the sync; default: the file's owner.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not IDENTIFIER.match(value):
            raise ValueError("must be lower_snake_case (a-z, 0-9, _), e.g. klaviyo_profiles")
        return value

    @model_validator(mode="after")
    def _mode_needs(self) -> Sync:
        needs: dict[Mode, list[tuple[str, bool]]] = {
            Mode.UPSERT_PROFILES: [("fields", bool(self.fields))],
            Mode.MIRROR_LISTS: [("segment", self.segment is not None), ("lists", bool(self.lists))],
            Mode.TRIGGER_EVENTS: [("event", self.event is not None)],
            Mode.PROPAGATE_DELETIONS: [],
        }
        missing = [name for name, present in needs[self.mode] if not present]
        if missing:
            raise ValueError(f"mode {self.mode.value} needs {', '.join(missing)}")
        return self

    def mapping_fingerprint(self) -> str:
        """A hash of everything that shapes what is sent: changing it resends every record."""
        shape = {
            "version": self.mapping_version,
            "mode": self.mode.value,
            "fields": self.fields,
            "null_policy": self.null_policy.value,
            "lists": self.lists,
            "event": self.event.model_dump() if self.event else None,
            "destination": self.destination.type,
        }
        return hashlib.md5(json.dumps(shape, sort_keys=True).encode()).hexdigest()

    def source_columns(self) -> list[str]:
        """Every source column the sync reads (key first)."""
        columns = [self.key, self.email]
        columns += list(self.fields.values())
        if self.segment:
            columns.append(self.segment)
        if self.holdout:
            columns.append(self.holdout)
        if self.event:
            columns.append(self.event.unique_id)
            if self.event.time:
                columns.append(self.event.time)
            columns += list(self.event.properties.values())
        return list(dict.fromkeys(columns))


class SyncsFile(Strict):
    version: Literal[1] = 1
    exports_schema: str = "exports"
    state_schema: str = "activation"
    owner: Owner = Field(default=DEFAULT_OWNER, description="Default owner of every sync (its dbt exposure).")
    alerts: Alerts = Alerts()
    syncs: list[Sync]

    @model_validator(mode="after")
    def _unique_names(self) -> SyncsFile:
        names = [sync.name for sync in self.syncs]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"sync names must be unique; declared twice: {', '.join(duplicates)}")
        return self

    def owner_of(self, sync: Sync) -> Owner:
        return sync.owner or self.owner

    def select(self, names: list[str] | None) -> list[Sync]:
        if not names:
            return list(self.syncs)
        known = {sync.name: sync for sync in self.syncs}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ConfigError(f"unknown sync {', '.join(unknown)}; declared: {', '.join(known) or '(none)'}")
        return [known[name] for name in names]


def load_syncs(path: Path) -> SyncsFile:
    """Read and validate a syncs file; every problem is reported at once, with its location."""
    if not path.exists():
        raise ConfigError(f"{path} not found: declare syncs there (see README, 'Syncs'), or pass --syncs PATH")
    try:
        raw: Any = yamlfile.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path} must hold a mapping with a 'syncs' list")
    try:
        return SyncsFile.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{path} is not a valid syncs file:\n{_describe(error, raw)}") from None


def _describe(error: ValidationError, raw: Mapping[str, Any]) -> str:
    lines = []
    syncs = raw.get("syncs") if isinstance(raw.get("syncs"), list) else []
    for problem in error.errors():
        location = list(problem["loc"])
        where = ".".join(str(part) for part in location)
        if len(location) >= 2 and location[0] == "syncs" and isinstance(location[1], int):
            index = location[1]
            name = syncs[index].get("name") if index < len(syncs) and isinstance(syncs[index], Mapping) else None
            rest = ".".join(str(part) for part in location[2:])
            where = f"sync {name or '#' + str(index + 1)}" + (f": {rest}" if rest else "")
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"  - {where}: {message}")
    return "\n".join(lines)
