"""Sync declarations fail fast, naming the sync, the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from activation.config import Mode, load_syncs
from activation.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

BASE = {
    "name": "profiles",
    "source": "export_contact_template_variables",
    "key": "contact_key",
    "destination": {"type": "klaviyo", "credentials": {"api_key": "KLAVIYO_API_KEY"}},
    "mode": "upsert_profiles",
    "fields": {"email": "email"},
}


def write(tmp_path: Path, *syncs: dict) -> Path:
    path = tmp_path / "syncs.yml"
    path.write_text(yaml.safe_dump({"version": 1, "syncs": list(syncs)}))
    return path


def test_the_shipped_syncs_file_is_valid():
    syncs = load_syncs(ROOT / "syncs.yml")
    assert {sync.mode for sync in syncs.syncs} == set(Mode)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mode": "upsert_everything"}, "sync profiles: mode"),
        ({"fields": {}}, "mode upsert_profiles needs fields"),
        ({"mode": "mirror_lists"}, "mode mirror_lists needs segment, lists"),
        ({"mode": "trigger_events"}, "mode trigger_events needs event"),
        ({"name": "Profiles Sync"}, "must be lower_snake_case"),
        ({"destination": {"type": "klaviyo", "credentials": {"api_key": "pk_live_abc123"}}},
         "NAME of an environment variable"),
        ({"destination": {"type": "sendgrid"}}, "sync profiles: destination.type"),
        ({"colour": "blue"}, "sync profiles: colour: Extra inputs are not permitted"),
        ({"circuit_breaker": {"max_removed_share": 2}}, "max_removed_share"),
    ],
)
def test_a_bad_sync_names_the_sync_and_the_field(tmp_path, change, message):
    with pytest.raises(ConfigError) as error:
        load_syncs(write(tmp_path, {**BASE, **change}))
    assert message in str(error.value)


def test_duplicate_sync_names_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="declared twice: profiles"):
        load_syncs(write(tmp_path, BASE, BASE))


def test_a_missing_file_says_where_to_declare_syncs(tmp_path):
    with pytest.raises(ConfigError, match="not found: declare syncs there"):
        load_syncs(tmp_path / "nope.yml")


def test_an_unset_credential_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("KLAVIYO_API_KEY", raising=False)
    sync = load_syncs(write(tmp_path, BASE)).syncs[0]
    with pytest.raises(ConfigError, match="environment variable KLAVIYO_API_KEY .* is not set"):
        sync.destination.secret("api_key")


def test_the_mapping_fingerprint_changes_with_the_mapping(tmp_path):
    one = load_syncs(write(tmp_path, BASE)).syncs[0]
    two = load_syncs(write(tmp_path, {**BASE, "fields": {"email": "email", "first_name": "first_name"}})).syncs[0]
    three = load_syncs(write(tmp_path, {**BASE, "mapping_version": 2})).syncs[0]
    assert len({one.mapping_fingerprint(), two.mapping_fingerprint(), three.mapping_fingerprint()}) == 3
