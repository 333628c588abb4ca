"""Independent, reproducible random streams, one per named generation step."""

from __future__ import annotations

import zlib

import numpy as np

from datagen.arrays import uuid_parts


class Streams:
    """``rng(name)`` gives the same PCG64 stream for the same (seed, name), whatever other
    steps draw, so changing one step does not reshuffle the others.

    Ids of transactional records (message ids, ESP event ids, ...) also depend on the end
    of the window, so batches generated for different windows and appended to one
    warehouse do not reuse ids.
    """

    def __init__(self, seed: int, window_end_ms: int) -> None:
        self._seed = seed
        self._window_end_ms = window_end_ms

    def rng(self, name: str) -> np.random.Generator:
        sequence = np.random.SeedSequence(entropy=self._seed, spawn_key=(_crc(name),))
        return np.random.Generator(np.random.PCG64(sequence))

    def id_rng(self, name: str) -> np.random.Generator:
        sequence = np.random.SeedSequence(entropy=[self._seed, self._window_end_ms], spawn_key=(_crc(name),))
        return np.random.Generator(np.random.PCG64(sequence))

    def ids(self, name: str) -> IdStream:
        """Unique uuid-like ids for transactional records of stream ``name``."""
        return IdStream(self.id_rng(name), self.id_key(name))

    def key(self, name: str) -> int:
        """A 64-bit key for :func:`datagen.arrays.mix64` of entity id stream ``name``."""
        return int(self.rng(f"{name}:key").integers(0, 2**63))

    def id_key(self, name: str) -> int:
        """A 64-bit key for :func:`datagen.arrays.mix64` of id stream ``name``."""
        return int(self.id_rng(f"{name}:key").integers(0, 2**63))


class IdStream:
    """Hands out (hi, lo) uint64 id halves; ``lo`` never repeats within the stream."""

    def __init__(self, rng: np.random.Generator, key: int) -> None:
        self._rng = rng
        self._key = key
        self._next = 0

    def take(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        hi, lo = uuid_parts(self._rng, self._next, count, self._key)
        self._next += count
        return hi, lo


def _crc(name: str) -> int:
    return zlib.crc32(name.encode())
