"""Activation's own tables: runs, the journal, outcomes, per-record sync state, rejections, tombstones.

- ``runs``: one row per sync run, with counts per operation and outcome.
- ``journal``: the plan of a run, one row per record and operation, written
  before anything is sent. Batches are read from it.
- ``outcomes``: what the destination answered, appended per batch as the
  batch is answered (an append costs the same whatever the size of the
  journal). When the run's sending ends, they are merged into the journal
  (and removed), then ``sync_state`` is updated from the journal; a run
  that died before that is merged by the next run, before it resumes.
- ``sync_state``: what the destination holds, per sync and record, as last
  acknowledged: the payload hash, the mapping fingerprint, the destination's
  own id for the record, and whether the record failed (retried next run).
- ``rejections``: rows of a run that were never sent, with the reason.
- ``tombstones``: erased subjects (email addresses); no sync sends them again.
"""

from __future__ import annotations

from activation.db import Warehouse, quote

TABLES = {
    "runs": """
        run_id varchar primary key,
        sync_name varchar not null,
        mode varchar not null,
        destination varchar not null,
        status varchar not null,
        dry_run boolean not null,
        full_resync boolean not null,
        started_at timestamp not null,
        finished_at timestamp,
        planned_add bigint default 0,
        planned_change bigint default 0,
        planned_remove bigint default 0,
        planned_retry bigint default 0,
        unchanged bigint default 0,
        rejected bigint default 0,
        sent bigint default 0,
        acknowledged bigint default 0,
        failed bigint default 0,
        skipped bigint default 0,
        requests bigint default 0,
        duration_seconds double precision,
        error varchar
    """,
    "journal": """
        run_id varchar not null,
        sync_name varchar not null,
        seq bigint not null,
        record_key varchar not null,
        email varchar,
        operation varchar not null,
        payload varchar,
        payload_hash varchar,
        destination_ref varchar,
        status varchar not null,
        error_code varchar,
        error_message varchar,
        retryable boolean,
        updated_at timestamp,
        primary key (run_id, seq)
    """,
    "outcomes": """
        run_id varchar not null,
        seq bigint not null,
        status varchar not null,
        destination_ref varchar,
        error_code varchar,
        error_message varchar,
        retryable boolean,
        updated_at timestamp not null
    """,
    "sync_state": """
        sync_name varchar not null,
        record_key varchar not null,
        email varchar,
        payload_hash varchar,
        mapping_fingerprint varchar,
        destination_ref varchar,
        status varchar not null,
        error_code varchar,
        error_message varchar,
        failures integer default 0,
        last_run_id varchar,
        updated_at timestamp,
        primary key (sync_name, record_key)
    """,
    "rejections": """
        run_id varchar not null,
        sync_name varchar not null,
        record_key varchar,
        email varchar,
        reason varchar not null
    """,
    "tombstones": """
        email varchar primary key,
        request_id varchar,
        sync_name varchar not null,
        run_id varchar not null,
        tombstoned_at timestamp not null
    """,
}

# journal.status
PENDING = "pending"
IN_FLIGHT = "in_flight"  # a non-idempotent batch committed as being sent
ACKNOWLEDGED = "acknowledged"
FAILED = "failed"
SKIPPED = "skipped"

# sync_state.status
SYNCED = "synced"
STATE_FAILED = "failed"
REMOVED = "removed"
TOMBSTONED = "tombstoned"


class StateStore:
    """Names and creates the state tables in `schema`."""

    def __init__(self, warehouse: Warehouse, schema: str = "activation") -> None:
        self.warehouse = warehouse
        self.schema = schema

    def table(self, name: str) -> str:
        return f"{quote(self.schema)}.{quote(name)}"

    def ensure(self) -> None:
        self.warehouse.execute(f"create schema if not exists {quote(self.schema)}")
        for name, columns in TABLES.items():
            self.warehouse.execute(f"create table if not exists {self.table(name)} ({columns})")
