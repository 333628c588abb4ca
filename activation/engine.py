"""Runs a sync: resume what a crash left, plan, check, send from the journal, commit per batch.

1. **Resume**: a run of this sync that did not finish (the process died) is
   completed first, from its journal: its pending records are sent again.
   Upserts and list changes are idempotent, and events carry a deterministic
   unique id, so a resend cannot count twice.
2. **Plan** (SQL, planner.py) and write the journal in one transaction,
   before anything is sent.
3. **Circuit breaker** (mirror_lists): if a list would lose more than
   ``max_removed_share`` of its members, the run stops before sending and
   says how to proceed.
4. **Send** batch by batch; each batch's outcomes update the journal and
   ``sync_state`` in one transaction. A failed record is marked failed and
   is retried (RETRY) on the next run, never dropped.
5. **Record** the run: counts per operation and outcome, requests,
   duration, error.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from tqdm import tqdm

from activation import failpoints
from activation.config import Mode, Sync
from activation.db import Warehouse
from activation.destinations.base import ACKNOWLEDGED, Batch, Destination, JournalRecord, Outcome
from activation.errors import ActivationError, CircuitBreakerTripped
from activation.planner import ADD, CHANGE, REMOVE, RETRY, UNCHANGED, Plan, Planner
from activation.state import (
    FAILED,
    IN_FLIGHT,
    PENDING,
    REMOVED,
    STATE_FAILED,
    SYNCED,
    TOMBSTONED,
    StateStore,
)

READ_PAGE = 50_000
# what a destination said about each record of a batch, loaded into the warehouse to apply set-based
OUTCOME_COLUMNS = (
    ("seq", "bigint"),
    ("status", "varchar"),
    ("destination_ref", "varchar"),
    ("error_code", "varchar"),
    ("error_message", "varchar"),
    ("retryable", "boolean"),
)
UNCERTAIN = "uncertain"

# run statuses
SUCCEEDED = "succeeded"
PARTIAL = "partial"  # some records failed: they are retried next run
RUN_FAILED = "failed"
ABORTED = "aborted"
DRY_RUN = "dry_run"
RUNNING = "running"


@dataclass
class RunResult:
    run_id: str
    sync_name: str
    status: str
    counts: dict[str, int]
    rejected: dict[str, int]
    sent: int = 0
    acknowledged: int = 0
    failed: int = 0
    skipped: int = 0
    requests: int = 0
    duration_seconds: float = 0.0
    error: str | None = None
    samples: dict[str, list[str]] = field(default_factory=dict)
    resumed_run_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Engine:
    def __init__(
        self,
        warehouse: Warehouse,
        store: StateStore,
        exports_schema: str,
        destination_factory: Callable[[Sync], Destination],
        *,
        progress: bool = True,
    ) -> None:
        self.warehouse = warehouse
        self.store = store
        self.planner = Planner(warehouse, store, exports_schema)
        self.destination_factory = destination_factory
        self.progress = progress and sys.stderr.isatty()

    # -- public ------------------------------------------------------------------------------
    def plan_only(self, sync: Sync, *, full_resync: bool = False) -> Plan:
        """The plan, computed and thrown away (nothing is recorded or sent)."""
        self.store.ensure()
        run_id = f"plan-{uuid.uuid4().hex[:12]}"
        self.warehouse.execute("begin transaction")
        try:
            return self.planner.plan(sync, run_id, full_resync=full_resync)
        finally:
            self.warehouse.execute("rollback")

    def run(
        self, sync: Sync, *, dry_run: bool = False, full_resync: bool = False, force_removals: bool = False
    ) -> RunResult:
        self.store.ensure()
        if dry_run:
            plan = self.plan_only(sync, full_resync=full_resync)
            result = RunResult(self._new_run_id(), sync.name, DRY_RUN, dict(plan.counts), dict(plan.rejected))
            result.samples = plan.samples
            self._record_dry_run(sync, result, full_resync)
            return result

        # one process per sync: two would resume the same interrupted run and send it twice (DuckDB
        # already allows one writer per file; on PostgreSQL this is an advisory lock of the session)
        with self.warehouse.exclusive(f"activation sync {self.store.schema}.{sync.name}"):
            return self._run(sync, full_resync=full_resync, force_removals=force_removals)

    def _run(self, sync: Sync, *, full_resync: bool, force_removals: bool) -> RunResult:
        destination = self.destination_factory(sync)
        if not destination.supports(sync.mode):
            raise ActivationError(f"sync {sync.name}: destination {destination.name} cannot run mode {sync.mode}")
        started = time.monotonic()
        try:
            resumed = self._resume_unfinished(sync, destination)
            requests_before = sum(destination.request_stats().values())
            run_id = self._new_run_id()
            with self.warehouse.transaction():
                self._insert_run(sync, run_id, full_resync)
                plan = self.planner.plan(sync, run_id, full_resync=full_resync)
                self._update_run(run_id, status=RUNNING, **self._planned_columns(plan))
            failpoints.reached("after_plan")
            result = RunResult(run_id, sync.name, RUNNING, dict(plan.counts), dict(plan.rejected))
            result.samples = plan.samples
            result.resumed_run_ids = resumed
            try:
                self._check_circuit_breaker(sync, plan, force_removals)
            except CircuitBreakerTripped as error:
                self._skip_pending(run_id)
                result.status, result.error = ABORTED, str(error)
                self._finish(run_id, result, started, destination, requests_before)
                raise
            sent, acknowledged, failed = self._send_pending(sync, run_id, destination)
            result.sent, result.acknowledged, result.failed = sent, acknowledged, failed
            result.status = SUCCEEDED if failed == 0 else PARTIAL
            self._finish(run_id, result, started, destination, requests_before)
            return result
        finally:
            destination.close()

    # -- steps -------------------------------------------------------------------------------
    @staticmethod
    def _new_run_id() -> str:
        return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]

    def _insert_run(self, sync: Sync, run_id: str, full_resync: bool, dry_run: bool = False) -> None:
        self.warehouse.execute(
            f"""
            insert into {self.store.table('runs')}
                (run_id, sync_name, mode, destination, status, dry_run, full_resync, started_at)
            values (?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [run_id, sync.name, sync.mode.value, sync.destination.type, "planned", dry_run, full_resync, _now()],
        )

    def _update_run(self, run_id: str, **columns: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self.warehouse.execute(
            f"update {self.store.table('runs')} set {assignments} where run_id = ?", [*columns.values(), run_id]
        )

    @staticmethod
    def _planned_columns(plan: Plan) -> dict[str, int]:
        return {
            "planned_add": plan.counts[ADD],
            "planned_change": plan.counts[CHANGE],
            "planned_remove": plan.counts[REMOVE],
            "planned_retry": plan.counts[RETRY],
            "unchanged": plan.counts[UNCHANGED],
            "rejected": sum(plan.rejected.values()),
        }

    def _record_dry_run(self, sync: Sync, result: RunResult, full_resync: bool) -> None:
        with self.warehouse.transaction():
            self._insert_run(sync, result.run_id, full_resync, dry_run=True)
            plan = Plan(result.run_id, counts=result.counts, rejected=result.rejected)
            self._update_run(result.run_id, status=DRY_RUN, finished_at=_now(), **self._planned_columns(plan))

    def _check_circuit_breaker(self, sync: Sync, plan: Plan, force: bool) -> None:
        if sync.mode is not Mode.MIRROR_LISTS or force:
            return
        breaker = sync.circuit_breaker
        for list_id, (removals, members) in sorted(plan.removals_by_list.items()):
            if members >= breaker.min_list_size and members and removals / members > breaker.max_removed_share:
                raise CircuitBreakerTripped(
                    f"sync {sync.name}: list {list_id} would lose {removals:,} of its {members:,} members "
                    f"({removals / members:.0%}, above max_removed_share {breaker.max_removed_share:.0%}). "
                    "Nothing was sent. If an upstream model emptied, fix it and rebuild; if the removals are "
                    "real, rerun with --force-removals."
                )

    def _skip_pending(self, run_id: str) -> None:
        self.warehouse.execute(
            f"update {self.store.table('journal')} set status = 'skipped', updated_at = ? "
            f"where run_id = ? and status = '{PENDING}'",
            [_now(), run_id],
        )

    def _resume_unfinished(self, sync: Sync, destination: Destination) -> list[str]:
        """Finish runs of this sync that a crash interrupted, oldest first."""
        rows = self.warehouse.fetchall(
            f"select run_id from {self.store.table('runs')} where sync_name = ? and status in ('planned', ?) "
            "order by started_at",
            [sync.name, RUNNING],
        )
        resumed = []
        for (run_id,) in rows:
            started = time.monotonic()
            self._settle_uncertain(sync, run_id)
            requests_before = sum(destination.request_stats().values())
            _, _, failed = self._send_pending(sync, run_id, destination)
            counts = self.warehouse.fetchone(
                f"select failed from {self.store.table('runs')} where run_id = ?", [run_id]
            )
            result = RunResult(run_id, sync.name, SUCCEEDED if not (counts and counts[0]) else PARTIAL, {}, {})
            result.error = "completed by a later run after an interruption"
            self._finish(run_id, result, started, destination, requests_before)
            resumed.append(run_id)
        return resumed

    def _pending(self, run_id: str) -> Iterator[list[JournalRecord]]:
        """Pending journal records of a run, in journal order, one operation at a time."""
        last_seq = 0
        while True:
            rows = self.warehouse.fetchall(
                f"""
                select seq, record_key, email, operation, payload, destination_ref
                from {self.store.table('journal')}
                where run_id = ? and status = '{PENDING}' and seq > ?
                order by seq
                limit {READ_PAGE}
                """,
                [run_id, last_seq],
            )
            if not rows:
                return
            last_seq = rows[-1][0]
            group: list[JournalRecord] = []
            for seq, key, email, operation, payload, ref in rows:
                record = JournalRecord(seq, key, email, operation, json.loads(payload) if payload else {}, ref)
                if group and group[-1].operation != operation:
                    yield group
                    group = []
                group.append(record)
            yield group

    def _send_pending(self, sync: Sync, run_id: str, destination: Destination) -> tuple[int, int, int]:
        """Send a run's pending records, up to the destination's concurrency at once.

        Batches are sent from worker threads; each batch's outcomes are committed by this
        thread as soon as that batch is done, so a crash loses at most the batches in flight
        (resent on resume), never a committed one.
        """
        total = self.warehouse.fetchone(
            f"select count(*) from {self.store.table('journal')} where run_id = ? and status = '{PENDING}'", [run_id]
        )
        pending_count = total[0] if total else 0
        counts = {"sent": 0, "acknowledged": 0, "failed": 0}
        bar = tqdm(total=pending_count, desc=f"{sync.name}", unit="rec", disable=not self.progress or not pending_count)

        def done(batch: Batch, outcomes: list[Outcome]) -> None:
            failpoints.reached("after_send")
            self._commit(sync, run_id, batch.records, outcomes)
            failpoints.reached("after_commit")
            counts["sent"] += len(batch.records)
            counts["acknowledged"] += sum(1 for outcome in outcomes if outcome.status == ACKNOWLEDGED)
            counts["failed"] += sum(1 for outcome in outcomes if outcome.status != ACKNOWLEDGED)
            bar.update(len(batch.records))

        workers = max(1, destination.max_concurrency)
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{sync.name}-send") as pool:
                in_flight: dict[Future[list[Outcome]], Batch] = {}
                for records in self._pending(run_id):
                    for batch in destination.batches(sync.mode, records[0].operation, records):
                        while len(in_flight) >= workers:
                            self._collect(in_flight, done, FIRST_COMPLETED)
                        if not destination.idempotent(sync.mode, batch.operation):
                            self._mark_in_flight(run_id, batch)
                        in_flight[pool.submit(destination.send, batch)] = batch
                while in_flight:
                    self._collect(in_flight, done, FIRST_COMPLETED)
        finally:
            bar.close()
        return counts["sent"], counts["acknowledged"], counts["failed"]

    def _mark_in_flight(self, run_id: str, batch: Batch) -> None:
        """Commit that this batch is about to be sent (non-idempotent sends only)."""
        seqs = [record.seq for record in batch.records]
        self.warehouse.execute(
            f"update {self.store.table('journal')} set status = '{IN_FLIGHT}', updated_at = ? "
            f"where run_id = ? and seq in (select unnest(cast(? as bigint[])))",
            [_now(), run_id, seqs],
        )

    def _settle_uncertain(self, sync: Sync, run_id: str) -> int:
        """In-flight records of an interrupted run: the ESP may or may not have them, and it would
        not deduplicate a resend. Never resent; recorded as failed/uncertain for a person to check."""
        journal = self.store.table("journal")
        rows = self.warehouse.fetchall(
            f"select seq, record_key, email, operation, payload, destination_ref from {journal} "
            f"where run_id = ? and status = '{IN_FLIGHT}' order by seq",
            [run_id],
        )
        if not rows:
            return 0
        records = [JournalRecord(seq, key, email, op, json.loads(payload) if payload else {}, ref)
                   for seq, key, email, op, payload, ref in rows]
        message = (
            "interrupted while being sent to an ESP that does not deduplicate: not resent, to avoid a "
            "duplicate. Check the ESP; if it is missing, delete this record's sync_state row to send it again."
        )
        outcomes = [Outcome(r.seq, UNCERTAIN, r.destination_ref, "uncertain", message, False) for r in records]
        self._commit(sync, run_id, records, outcomes)
        return len(records)

    @staticmethod
    def _collect(
        in_flight: dict[Future[list[Outcome]], Batch],
        done: Callable[[Batch, list[Outcome]], None],
        return_when: str,
    ) -> None:
        finished, _ = wait(in_flight, return_when=return_when)
        for future in finished:
            batch = in_flight.pop(future)
            done(batch, future.result())

    def _commit(self, sync: Sync, run_id: str, records: list[JournalRecord], outcomes: list[Outcome]) -> None:
        """The batch's outcomes into the journal and sync_state, in one transaction."""
        by_seq = {outcome.seq: outcome for outcome in outcomes}
        missing = [record.seq for record in records if record.seq not in by_seq]
        if missing:
            raise ActivationError(f"destination returned no outcome for journal records {missing[:5]}")
        fingerprint = sync.mapping_fingerprint()
        now = _now()
        rows = [
            (o.seq, o.status, o.destination_ref, o.error_code, o.error_message, o.retryable) for o in outcomes
        ]
        journal = self.store.table("journal")
        state = self.store.table("sync_state")
        # the outcomes are loaded inside the transaction: a crash before its commit leaves nothing behind
        with self.warehouse.transaction(), self.warehouse.temp_rows("batch_outcomes", OUTCOME_COLUMNS, rows):
            self.warehouse.execute(
                f"""
                update {journal} as journal
                set status = case
                        when o.status in ('{ACKNOWLEDGED}', '{UNCERTAIN}') then o.status else '{FAILED}'
                    end,
                    destination_ref = coalesce(o.destination_ref, journal.destination_ref),
                    error_code = o.error_code,
                    error_message = o.error_message,
                    retryable = o.retryable,
                    updated_at = ?
                from batch_outcomes as o
                where journal.run_id = ? and journal.seq = o.seq
                """,
                [now, run_id],
            )
            # the new state of every record of the batch
            self.warehouse.create_temp_table(
                "batch_state",
                f"""
                select
                    journal.sync_name,
                    journal.record_key,
                    journal.email,
                    case
                        when journal.status = '{ACKNOWLEDGED}' and journal.operation = '{REMOVE}' then '{REMOVED}'
                        when journal.status = '{ACKNOWLEDGED}' and ? then '{TOMBSTONED}'
                        when journal.status = '{ACKNOWLEDGED}' then '{SYNCED}'
                        when journal.status = '{UNCERTAIN}' then '{UNCERTAIN}'
                        else '{STATE_FAILED}'
                    end as status,
                    case
                        when journal.status = '{ACKNOWLEDGED}' then journal.payload_hash
                        else previous.payload_hash
                    end as payload_hash,
                    case
                        when journal.status = '{ACKNOWLEDGED}' then ?
                        else previous.mapping_fingerprint
                    end as mapping_fingerprint,
                    journal.destination_ref,
                    journal.error_code,
                    journal.error_message,
                    case when journal.status = '{ACKNOWLEDGED}' then 0
                        else coalesce(previous.failures, 0) + 1 end as failures
                from {journal} as journal
                inner join batch_outcomes as o on journal.seq = o.seq
                left join {state} as previous
                    on previous.sync_name = journal.sync_name and previous.record_key = journal.record_key
                where journal.run_id = ?
                """,
                [sync.mode is Mode.PROPAGATE_DELETIONS, fingerprint, run_id],
            )
            self.warehouse.execute(
                f"""
                delete from {state}
                where sync_name = ? and record_key in (select record_key from batch_state)
                """,
                [sync.name],
            )
            self.warehouse.execute(
                f"""
                insert into {state}
                    (sync_name, record_key, email, payload_hash, mapping_fingerprint, destination_ref, status,
                     error_code, error_message, failures, last_run_id, updated_at)
                select sync_name, record_key, email, payload_hash, mapping_fingerprint, destination_ref, status,
                    error_code, error_message, failures, ?, ?
                from batch_state
                """,
                [run_id, now],
            )
            if sync.mode is Mode.PROPAGATE_DELETIONS:
                self._tombstone(sync, run_id, now)
            self.warehouse.execute(
                f"""
                update {self.store.table('runs')} set
                    sent = sent + ?,
                    acknowledged = acknowledged + ?,
                    failed = failed + ?
                where run_id = ?
                """,
                [
                    len(outcomes),
                    sum(1 for o in outcomes if o.status == ACKNOWLEDGED),
                    sum(1 for o in outcomes if o.status != ACKNOWLEDGED),
                    run_id,
                ],
            )

    def _tombstone(self, sync: Sync, run_id: str, now: datetime) -> None:
        """Erased subjects: never sent again by any sync; their state rows say so."""
        tombstones = self.store.table("tombstones")
        self.warehouse.execute(
            f"""
            insert into {tombstones} (email, request_id, sync_name, run_id, tombstoned_at)
            select distinct email, record_key, sync_name, ?, ?
            from batch_state
            where status = '{TOMBSTONED}' and email is not null
                and email not in (select email from {tombstones})
            """,
            [run_id, now],
        )
        self.warehouse.execute(
            f"""
            update {self.store.table('sync_state')} set status = '{TOMBSTONED}', updated_at = ?
            where email in (select email from batch_state where status = '{TOMBSTONED}')
            """,
            [now],
        )

    def _finish(
        self, run_id: str, result: RunResult, started: float, destination: Destination, requests_before: int = 0
    ) -> None:
        """Close the run row. Sent / acknowledged / failed were counted batch by batch in _commit."""
        result.duration_seconds = round(time.monotonic() - started, 3)
        result.requests = sum(destination.request_stats().values()) - requests_before
        columns: dict[str, Any] = {
            "status": result.status,
            "finished_at": _now(),
            "duration_seconds": result.duration_seconds,
            "error": result.error,
            "requests": result.requests,
        }
        skipped = self.warehouse.fetchone(
            f"select count(*) from {self.store.table('journal')} where run_id = ? and status = 'skipped'", [run_id]
        )
        result.skipped = skipped[0] if skipped else 0
        columns["skipped"] = result.skipped
        self._update_run(run_id, **columns)
