"""Runs a sync: resume what a crash left, plan, check, send from the journal, commit answers, merge per run.

1. **Resume**: a run of this sync that did not finish (the process died) is
   completed first, from its journal: its pending records are sent again.
   Upserts and list changes are idempotent, and events carry a deterministic
   unique id, so a resend cannot count twice.
2. **Plan** (SQL, planner.py) and write the journal in one transaction,
   before anything is sent.
3. **Circuit breaker** (mirror_lists): if a list would lose more than
   ``max_removed_share`` of its members, the run stops before sending and
   says how to proceed.
4. **Send** batch by batch; each batch's outcomes are appended to
   ``outcomes`` (and counted in the run's row) in one transaction. When
   sending ends (or fails), the outcomes are merged into the journal and
   ``sync_state`` is updated from it, set-based; a run that died before
   that is merged and completed by the next run (step 1). A failed record
   is marked failed and is retried (RETRY) on the next run, never dropped.
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

# pending journal records read (and JSON-decoded) at a time. Measured on a 1M-row Klaviyo journal: a page
# of 10,000 decoded payloads adds ~60 MB to the process, one of 50,000 ~190-300 MB; a range of seq costs
# its own rows, so smaller pages cost no more reading
READ_PAGE = 10_000
# outcomes are committed in groups: at most this many records, or this long after the oldest answer
COMMIT_RECORDS = 10_000
COMMIT_SECONDS = 1.0
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
            self._merge_outcomes(run_id)  # answers committed before the crash: not pending, not uncertain
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
        """Pending journal records of a run, in journal order, one operation at a time.

        Read by ranges of READ_PAGE sequence numbers (a run's are 1..n), not by `order by seq
        limit`: a range is found from the (run_id, seq) key alone, so each page costs its own
        rows, where a top-N over the remaining rows cost a pass over all of them per page.
        """
        journal = self.store.table("journal")
        bounds = self.warehouse.fetchone(
            f"select min(seq), max(seq) from {journal} where run_id = ? and status = '{PENDING}'", [run_id]
        )
        if not bounds or bounds[0] is None:
            return
        first, last = bounds
        for low in range(first - 1, last, READ_PAGE):
            rows = self.warehouse.fetchall(
                f"""
                select seq, record_key, email, operation, payload, destination_ref
                from {journal}
                where run_id = ? and status = '{PENDING}' and seq > ? and seq <= ?
                order by seq
                """,
                [run_id, low, low + READ_PAGE],
            )
            group: list[JournalRecord] = []
            for seq, key, email, operation, payload, ref in rows:
                record = JournalRecord(seq, key, email, operation, json.loads(payload) if payload else {}, ref)
                if group and group[-1].operation != operation:
                    yield group
                    group = []
                group.append(record)
            if group:
                yield group

    def _send_pending(self, sync: Sync, run_id: str, destination: Destination) -> tuple[int, int, int]:
        """Send a run's pending records, up to the destination's concurrency at once.

        Batches are sent from worker threads; this thread commits their outcomes (appends them to
        ``outcomes``) in groups: at the latest COMMIT_SECONDS after the oldest uncommitted answer,
        or once COMMIT_RECORDS records are waiting, at the end, and when sending fails. A batch that
        is not idempotent is committed as soon as it is answered. So a crash loses at most the
        batches in flight and about a second of idempotent answers (both resent on resume; a resend
        of an upsert or a list change is harmless), never a committed one. One commit per request
        was the cost that dominated small-batch destinations (Braze: 75 profiles per request). The
        journal and ``sync_state`` follow when sending ends (`_merge_outcomes`, `_apply_state`).
        """
        total = self.warehouse.fetchone(
            f"select count(*) from {self.store.table('journal')} where run_id = ? and status = '{PENDING}'", [run_id]
        )
        pending_count = total[0] if total else 0
        counts = {"sent": 0, "acknowledged": 0, "failed": 0}
        bar = tqdm(total=pending_count, desc=f"{sync.name}", unit="rec", disable=not self.progress or not pending_count)
        answered: list[tuple[Batch, list[Outcome]]] = []
        oldest = [0.0]  # monotonic time of the oldest uncommitted answer

        def commit() -> None:
            if not answered:
                return
            records = [record for batch, _ in answered for record in batch.records]
            outcomes = [outcome for _, batch_outcomes in answered for outcome in batch_outcomes]
            self._commit(run_id, records, outcomes)
            answered.clear()
            failpoints.reached("after_commit")

        def done(batch: Batch, outcomes: list[Outcome]) -> None:
            failpoints.reached("after_send")
            if not answered:
                oldest[0] = time.monotonic()
            answered.append((batch, outcomes))
            counts["sent"] += len(batch.records)
            counts["acknowledged"] += sum(1 for outcome in outcomes if outcome.status == ACKNOWLEDGED)
            counts["failed"] += sum(1 for outcome in outcomes if outcome.status != ACKNOWLEDGED)
            bar.update(len(batch.records))
            waiting = sum(len(answered_batch.records) for answered_batch, _ in answered)
            if (
                not destination.idempotent(sync.mode, batch.operation)
                or waiting >= COMMIT_RECORDS
                or time.monotonic() - oldest[0] >= COMMIT_SECONDS
            ):
                commit()

        workers = max(1, destination.max_concurrency)
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{sync.name}-send") as pool:
                in_flight: dict[Future[list[Outcome]], Batch] = {}

                def submit(batch: Batch) -> None:
                    while len(in_flight) >= workers:
                        self._collect(in_flight, done, FIRST_COMPLETED)
                    if not destination.idempotent(sync.mode, batch.operation):
                        self._mark_in_flight(run_id, batch)
                    in_flight[pool.submit(destination.send, batch)] = batch

                # The last batch of a page is held back and packed again with the next page of the
                # same operation, so page boundaries never add a part-filled request.
                carried: list[JournalRecord] = []
                for records in self._pending(run_id):
                    if carried and carried[0].operation == records[0].operation:
                        records = carried + records
                    elif carried:
                        for batch in destination.batches(sync.mode, carried[0].operation, carried):
                            submit(batch)
                    carried = []
                    batches = destination.batches(sync.mode, records[0].operation, records)
                    held = next(batches, None)
                    for batch in batches:
                        assert held is not None
                        submit(held)
                        held = batch
                    carried = held.records if held is not None else []
                if carried:
                    for batch in destination.batches(sync.mode, carried[0].operation, carried):
                        submit(batch)
                while in_flight:
                    self._collect(in_flight, done, FIRST_COMPLETED)
            commit()
        except Exception:
            commit()  # what was answered before the error is kept
            raise
        finally:
            bar.close()
            self._merge_outcomes(run_id)
            self._apply_state(sync, run_id)
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
        self._commit(run_id, records, outcomes)
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

    def _commit(self, run_id: str, records: list[JournalRecord], outcomes: list[Outcome]) -> None:
        """The batches' outcomes, appended to ``outcomes``, and the run's counters, in one transaction.

        An append costs the same at a million records as at a thousand; updating the journal and
        ``sync_state`` per batch cost a scan of tables as large as the export for every request.
        Both are brought up to date once per run, in set-based statements (`_merge_outcomes`,
        `_apply_state`).
        """
        by_seq = {outcome.seq: outcome for outcome in outcomes}
        missing = [record.seq for record in records if record.seq not in by_seq]
        if missing:
            raise ActivationError(f"destination returned no outcome for journal records {missing[:5]}")
        rows = [
            (o.seq, o.status, o.destination_ref, o.error_code, o.error_message, o.retryable) for o in outcomes
        ]
        acknowledged = sum(1 for o in outcomes if o.status == ACKNOWLEDGED)
        # the outcomes are loaded inside the transaction: a crash before its commit leaves nothing behind
        with self.warehouse.transaction(), self.warehouse.temp_rows("batch_outcomes", OUTCOME_COLUMNS, rows):
            self.warehouse.execute(
                f"""
                insert into {self.store.table('outcomes')}
                    (run_id, seq, status, destination_ref, error_code, error_message, retryable, updated_at)
                select ?, seq, status, destination_ref, error_code, error_message, retryable, ?
                from batch_outcomes
                """,
                [run_id, _now()],
            )
            self.warehouse.execute(
                f"""
                update {self.store.table('runs')} set
                    sent = sent + ?,
                    acknowledged = acknowledged + ?,
                    failed = failed + ?
                where run_id = ?
                """,
                [len(outcomes), acknowledged, len(outcomes) - acknowledged, run_id],
            )

    def _merge_outcomes(self, run_id: str) -> None:
        """The run's appended outcomes into its journal rows, then out of ``outcomes``; one transaction."""
        journal = self.store.table("journal")
        outcomes = self.store.table("outcomes")
        with self.warehouse.transaction():
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
                    updated_at = o.updated_at
                from (select * from {outcomes} where run_id = ?) as o
                where journal.run_id = ? and journal.seq = o.seq
                """,
                [run_id, run_id],
            )
            self.warehouse.execute(f"delete from {outcomes} where run_id = ?", [run_id])

    def _apply_state(self, sync: Sync, run_id: str) -> None:
        """``sync_state`` from the run's journal: every record with an outcome, in one transaction.

        Called when a run's sending ends (also when it ends in an error, and when a later run
        completes an interrupted one). Rows already applied from this run (``last_run_id``) are
        left alone, so applying twice (a crash between this and the run's end) counts nothing twice.
        """
        journal = self.store.table("journal")
        state = self.store.table("sync_state")
        fingerprint = sync.mapping_fingerprint()
        with self.warehouse.transaction():
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
                        else coalesce(previous.failures, 0) + 1 end as failures,
                    journal.updated_at
                from {journal} as journal
                left join {state} as previous
                    on previous.sync_name = journal.sync_name and previous.record_key = journal.record_key
                where journal.run_id = ?
                    and journal.status in ('{ACKNOWLEDGED}', '{FAILED}', '{UNCERTAIN}')
                    and previous.last_run_id is distinct from ?
                """,
                [sync.mode is Mode.PROPAGATE_DELETIONS, fingerprint, run_id, run_id],
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
                    error_code, error_message, failures, ?, updated_at
                from batch_state
                """,
                [run_id],
            )
            if sync.mode is Mode.PROPAGATE_DELETIONS:
                self._tombstone(sync, run_id, _now())
            self.warehouse.drop_temp_table("batch_state")

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
