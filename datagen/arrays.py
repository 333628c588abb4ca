"""Vectorised building blocks: ragged groups, sampling, scheduling, Arrow conversion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

CHUNK_ROWS = 1 << 20
MS_PER_SECOND = 1_000
MS_PER_MINUTE = 60_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000

Frame = dict[str, np.ndarray]


def offsets(counts: np.ndarray) -> np.ndarray:
    """Start offset of each group given group sizes (exclusive cumulative sum, int64)."""
    out = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=out[1:])
    return out


def ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of the given sizes: (group index, position within group) of every member."""
    counts = counts.astype(np.int64, copy=False)
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    position = np.arange(int(counts.sum()), dtype=np.int64) - offsets(counts)[owner]
    return owner, position


def group_cumsum(values: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum within groups; rows must be ordered by ``owner``."""
    total = np.cumsum(values, dtype=np.int64)
    before = total - values
    first = np.flatnonzero(group_first(owner))
    result: np.ndarray = total - before[first][dense_rank(owner)]
    return result


def group_first(owner: np.ndarray) -> np.ndarray:
    """True for the first row of each group; rows ordered by ``owner``."""
    first = np.ones(len(owner), dtype=bool)
    first[1:] = owner[1:] != owner[:-1]
    return first


def dense_rank(owner: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... per group of equal consecutive ``owner`` values."""
    rank: np.ndarray = np.cumsum(group_first(owner)) - 1
    return rank


def categorical(rng: np.random.Generator, weights: Sequence[float] | np.ndarray, size: int) -> np.ndarray:
    """Draw ``size`` category indices with the given (unnormalised) weights."""
    cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
    drawn: np.ndarray = np.searchsorted(cumulative, rng.random(size) * cumulative[-1], side="right")
    return drawn.astype(np.int64)


def schedule(group: np.ndarray, start: np.ndarray, length: np.ndarray, gap: int, low: int, high: int) -> np.ndarray:
    """Move intervals as little as possible so that, within each group, they do not overlap
    (``gap`` apart) and all lie within [low, high].

    Rows of a group must be contiguous, in the order to keep (ideally by start). Each
    group's total ``length + gap`` must fit into half of [low, high]. A forward pass pushes
    intervals later (running maximum), a backward pass pulls those past ``high`` earlier
    (running minimum).
    """
    if len(group) == 0:
        return start.copy()
    rank = dense_rank(group)
    step = length.astype(np.int64) + gap
    before = np.cumsum(step) - step
    first_index = np.flatnonzero(group_first(group))
    within_before = before - before[first_index][rank]  # sum of steps before the row, in group
    within_after = np.add.reduceat(step, first_index)[rank] - within_before  # steps from the row on
    relative = start.astype(np.int64) - low
    span = int(high - low) + 2 * int(within_after.max()) + 1
    if span * (int(rank[-1]) + 1) >= 2**62:
        raise ValueError("too many sessions to schedule; lower --customers or --days")
    lift = rank * span
    forward = np.maximum.accumulate(relative - within_before + lift) - lift + within_before
    latest = np.minimum.accumulate((forward + within_after + lift)[::-1])[::-1] - lift
    backward: np.ndarray = np.minimum(latest, high - low + gap) - within_after + low
    return backward


def pick_disjoint(rng: np.random.Generator, pool: np.ndarray, counts: Sequence[int]) -> list[np.ndarray]:
    """Disjoint random subsets of ``pool`` of the given sizes (capped at what the pool holds),
    each sorted."""
    wanted = [max(0, int(c)) for c in counts]
    total = min(sum(wanted), len(pool))
    chosen = rng.choice(pool, size=total, replace=False) if total else pool[:0]
    picks: list[np.ndarray] = []
    at = 0
    for count in wanted:
        take = min(count, total - at)
        picks.append(np.sort(chosen[at : at + take]))
        at += take
    return picks


def mix64(values: np.ndarray, key: int) -> np.ndarray:
    """A bijection on uint64 (splitmix64 finaliser of value + key): distinct in, distinct out."""
    x = values.astype(np.uint64) + np.uint64(key & 0xFFFFFFFFFFFFFFFF)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    mixed: np.ndarray = x ^ (x >> np.uint64(31))
    return mixed


def uuid_parts(rng: np.random.Generator, first: int, count: int, key: int) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) uint64 halves of uuid-like ids for rows ``first .. first+count``: ``hi`` is
    random with the version nibble 4, ``lo`` is a bijection of the row number, so ids of one
    stream never collide."""
    hi = rng.integers(0, 2**64, size=count, dtype=np.uint64, endpoint=False)
    hi = (hi & np.uint64(0xFFFFFFFFFFFF0FFF)) | np.uint64(0x4000)
    lo = mix64(np.arange(first, first + count, dtype=np.uint64), key)
    return hi, lo


def take(frame: Mapping[str, np.ndarray], index: np.ndarray) -> Frame:
    return {name: column[index] for name, column in frame.items()}


def concat(frames: Sequence[Mapping[str, np.ndarray]]) -> Frame:
    names = list(frames[0])
    return {name: np.concatenate([f[name] for f in frames]) for name in names}


def timestamps(ms: np.ndarray) -> pa.Array:
    """timestamp(us) Arrow array (naive UTC) from epoch milliseconds."""
    return pa.array((ms.astype(np.int64) * 1000).astype("datetime64[us]"))


def dictionary(indices: np.ndarray, values: pa.Array) -> pa.DictionaryArray:
    """Dictionary-encoded strings: ``values[indices]``, null where the index is negative."""
    index: np.ndarray = np.asarray(indices, dtype=np.int16 if len(values) < 2**15 else np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(index, mask=index < 0), values)
