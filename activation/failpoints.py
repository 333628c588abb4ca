"""Named crash points, so tests can kill a sync exactly where it hurts.

``ACTIVATION_CRASH_AT=after_send:3`` makes the process exit abruptly (as
kill -9 would: no cleanup, no commit, no flush) the third time it passes
the point ``after_send``. Unset, every check is a dictionary lookup.

Points: ``after_plan`` (the plan is committed, nothing sent),
``after_send`` (a batch was acknowledged by the destination, its state not
yet committed), ``after_commit`` (a batch's outcomes were committed).
"""

from __future__ import annotations

import os
from collections import Counter

POINTS = ("after_plan", "after_send", "after_commit")
_passes: Counter[str] = Counter()


def _target() -> tuple[str, int] | None:
    spec = os.environ.get("ACTIVATION_CRASH_AT")
    if not spec:
        return None
    name, _, count = spec.partition(":")
    if name not in POINTS:
        raise ValueError(f"ACTIVATION_CRASH_AT={spec!r}: the point must be one of {', '.join(POINTS)}")
    return name, int(count or 1)


def reached(point: str) -> None:
    """Die here if ACTIVATION_CRASH_AT names this point and this pass."""
    target = _target()
    if target is None or target[0] != point:
        return
    _passes[point] += 1
    if _passes[point] == target[1]:
        os._exit(137)
