"""Pack records into requests, by count and by encoded byte size, in one pass.

Greedy: a batch is closed when the next record would break ``max_records`` or
``max_bytes``. The request's size is modelled as

    overhead + sum(len(encode(record))) + separator * (records - 1)

which fits a JSON array inside a fixed envelope (``separator=1`` for the
commas). A record that cannot fit in any request (over ``max_record_bytes``, or
over ``max_bytes`` with the envelope) is handed to ``on_rejected`` with the
reason: never sent, never silently dropped.

To encode each record once, pass pre-encoded records and an ``encode`` that
reads the bytes back, e.g. ``pack(pairs, ..., encode=operator.itemgetter(1))``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

R = TypeVar("R")


def pack(
    records: Iterable[R],
    max_records: int,
    max_bytes: int,
    encode: Callable[[R], bytes],
    *,
    on_rejected: Callable[[R, str], None],
    overhead: int = 0,
    separator: int = 0,
    max_record_bytes: int | None = None,
) -> Iterator[list[R]]:
    """Yield lists of at most ``max_records`` records whose request is at most ``max_bytes`` bytes."""
    if max_records < 1 or max_bytes < 1:
        raise ValueError("max_records and max_bytes must be positive")
    if overhead >= max_bytes:
        raise ValueError(f"the envelope alone ({overhead} bytes) does not fit in max_bytes ({max_bytes})")
    record_cap = max_bytes - overhead if max_record_bytes is None else min(max_record_bytes, max_bytes - overhead)
    batch: list[R] = []
    size = overhead
    for record in records:
        length = len(encode(record))
        if length > record_cap:
            on_rejected(record, _too_large(length, max_record_bytes, max_bytes, overhead))
            continue
        added = length + separator if batch else length
        if batch and (len(batch) >= max_records or size + added > max_bytes):
            yield batch
            batch, size, added = [], overhead, length
        batch.append(record)
        size += added
    if batch:
        yield batch


def _too_large(length: int, max_record_bytes: int | None, max_bytes: int, overhead: int) -> str:
    if max_record_bytes is not None and length > max_record_bytes:
        return f"record is {length} bytes encoded; the destination accepts at most {max_record_bytes} per record"
    return (
        f"record is {length} bytes encoded; with the {overhead}-byte request envelope it exceeds "
        f"the {max_bytes}-byte request limit"
    )
