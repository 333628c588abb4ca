"""Send a batch; when the ESP rejects it as a whole, halve it until the bad records are isolated.

``send_batch`` sends one batch and returns one ``RecordOutcome`` per record, in
order (mapping the ESP's per-record errors itself), or raises
``BatchRejected`` when the ESP refused the batch without saying which record
was at fault (a 400 on the envelope, a 413). Halving finds one bad record in n
with about 2*log2(n) extra requests; every good record is still sent once.

Any other ``TransportError`` (retries exhausted, a non-retried failure) marks
that sub-batch ``failed`` and retryable, and the rest goes on: what was
acknowledged before stays acknowledged, so the engine can commit it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from activation.errors import BatchRejected, TransportError
from activation.transport.outcomes import RecordOutcome

R = TypeVar("R")


def send_with_split(
    records: Sequence[R],
    send_batch: Callable[[Sequence[R]], list[RecordOutcome]],
    *,
    key: Callable[[R], str],
) -> list[RecordOutcome]:
    """One outcome per record, in the order of ``records``."""
    outcomes: list[RecordOutcome] = []

    def send(batch: Sequence[R]) -> None:
        try:
            result = send_batch(batch)
        except BatchRejected as rejection:
            if len(batch) == 1:
                outcomes.append(RecordOutcome.rejected(
                    key(batch[0]), rejection.code, str(rejection), retryable=rejection.retryable))
                return
            middle = len(batch) // 2
            send(batch[:middle])
            send(batch[middle:])
            return
        except TransportError as error:
            outcomes.extend(RecordOutcome.failed(key(record), type(error).__name__, str(error)) for record in batch)
            return
        if len(result) != len(batch):
            raise ValueError(f"send_batch returned {len(result)} outcomes for {len(batch)} records; need one each")
        outcomes.extend(result)

    if records:
        send(records)
    return outcomes
