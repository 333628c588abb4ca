"""Faults on demand, deterministic for a seed: what an ESP does on a bad day.

A fault rule says *what* goes wrong, *for which operation* and *when*:

kinds
    ``429``            rate-limited answer with ``Retry-After`` (a "429 storm" with ``for=``)
    ``500`` ``502`` ``503``  server errors with the ESP's error body
    ``timeout``        the answer is held ``seconds`` (default 30) before it is sent
    ``reset``          the connection is closed without an answer (TCP RST)
    ``import-errors``  a ``share`` of the records of a bulk job fail with a per-record error

when (combine as needed)
    ``next=N``         the next N matching requests (or jobs); then the rule is spent
    ``p=0.1``          each matching request with this probability (seeded)
    ``for=SECONDS``    only during this many seconds from when the rule is added
    none of these      every matching request

other keys
    ``op=OPERATION``   the operation it applies to (Klaviyo: the operationId, e.g.
                       ``bulk_import_profiles``); default ``*`` = every operation
    ``seconds=S``      ``timeout``: how long to hold; ``429``: the ``Retry-After``
                       (default: what is left of ``for=``, else 1)
    ``share=F``        ``import-errors``: the share of records that fail (default 0.1)
    ``apply=true``     whether the request takes effect anyway (the ESP did the work,
                       the client never learns): default true for ``timeout``,
                       false for the others

Spec strings (CLI ``--fault``, admin endpoint) read ``KIND[:key=value,...]``::

    503:op=create_event,p=0.05
    429:for=5
    timeout:op=bulk_import_profiles,next=1,seconds=10
    reset:next=2,apply=true
    import-errors:share=0.2

Determinism: every rule draws from its own ``random.Random`` seeded with the
simulator's seed and the rule's position, so the same requests in the same order
meet the same faults, and adding a rule does not change another rule's draws.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from activation.errors import ConfigError

REQUEST_KINDS = ("429", "500", "502", "503", "timeout", "reset")
JOB_KINDS = ("import-errors",)
KINDS = REQUEST_KINDS + JOB_KINDS
_ALIASES = {"op": "operation", "p": "probability", "for": "duration", "storm": "duration"}
_FIELDS = ("operation", "probability", "next", "duration", "seconds", "share", "apply")


@dataclass
class FaultRule:
    """One rule; see the module docstring for the meaning of each field."""

    kind: str
    operation: str = "*"
    probability: float | None = None
    next: int | None = None
    duration: float | None = None
    seconds: float | None = None
    share: float = 0.1
    apply: bool | None = None
    # run-time state
    fired: int = field(default=0, compare=False)
    added_at: float = field(default=0.0, compare=False)
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown fault kind {self.kind!r}; kinds: {', '.join(KINDS)}")
        if self.probability is not None and not 0 <= self.probability <= 1:
            raise ConfigError(f"fault {self.kind}: p must be between 0 and 1 (got {self.probability})")
        if not 0 <= self.share <= 1:
            raise ConfigError(f"fault {self.kind}: share must be between 0 and 1 (got {self.share})")
        if self.next is not None and self.next < 0:
            raise ConfigError(f"fault {self.kind}: next must be >= 0 (got {self.next})")
        if self.apply is None:
            self.apply = self.kind == "timeout"

    @classmethod
    def parse(cls, spec: str) -> FaultRule:
        """A rule from ``KIND[:key=value,...]``."""
        kind, _, rest = spec.strip().partition(":")
        options: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in rest.split(","))):
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"fault spec {spec!r}: {item!r} is not key=value (see --help for the syntax)")
            options[key.strip()] = value.strip()
        return cls.from_mapping({"kind": kind.strip(), **options})

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> FaultRule:
        """A rule from a dict (the admin endpoint's JSON); the same keys as the spec string."""
        fields: dict[str, Any] = {}
        for key, value in values.items():
            name = _ALIASES.get(key, key)
            if name == "kind":
                fields["kind"] = str(value)
            elif name not in _FIELDS:
                raise ConfigError(f"fault option {key!r} is unknown; options: op, p, next, for, seconds, share, apply")
            else:
                fields[name] = _convert(name, value)
        if "kind" not in fields:
            raise ConfigError(f"fault {dict(values)!r} has no kind; kinds: {', '.join(KINDS)}")
        return cls(**fields)

    def describe(self) -> dict[str, Any]:
        """The rule as JSON-friendly data, with how often it fired and whether it is spent."""
        data: dict[str, Any] = {"kind": self.kind, "op": self.operation}
        for name, key in (("probability", "p"), ("next", "next"), ("duration", "for"), ("seconds", "seconds")):
            if getattr(self, name) is not None:
                data[key] = getattr(self, name)
        if self.kind == "import-errors":
            data["share"] = self.share
        data["apply"] = self.apply
        data["fired"] = self.fired
        return data

    def matches(self, operation: str) -> bool:
        return self.operation in ("*", operation)

    def active(self, now: float) -> bool:
        if self.next is not None and self.fired >= self.next:
            return False
        return self.duration is None or now - self.added_at < self.duration

    def retry_after(self, now: float) -> int:
        """``Retry-After`` for a 429 from this rule."""
        if self.seconds is not None:
            return max(0, math.ceil(self.seconds))
        if self.duration is not None:
            return max(1, math.ceil(self.added_at + self.duration - now))
        return 1


class FaultInjector:
    """The rules in force, and the seeded decisions of which request meets which fault. Thread-safe."""

    def __init__(self, seed: int = 0, rules: Iterable[FaultRule | str | Mapping[str, Any]] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seed = seed
        self.clock = clock
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._added = 0
        for rule in rules:
            self.add(rule)

    def add(self, rule: FaultRule | str | Mapping[str, Any]) -> FaultRule:
        """Add a rule (a :class:`FaultRule`, a spec string or a dict); it takes effect at once."""
        if isinstance(rule, str):
            rule = FaultRule.parse(rule)
        elif not isinstance(rule, FaultRule):
            rule = FaultRule.from_mapping(rule)
        with self._lock:
            rule.rng = random.Random(f"{self.seed}/{self._added}/{rule.kind}/{rule.operation}")
            rule.added_at = self.clock()
            rule.fired = 0
            self._added += 1
            self._rules.append(rule)
        return rule

    def set(self, rules: Iterable[FaultRule | str | Mapping[str, Any]]) -> None:
        """Replace every rule."""
        self.clear()
        for rule in rules:
            self.add(rule)

    def clear(self) -> None:
        """Remove every rule (and restart the rule numbering used for seeding)."""
        with self._lock:
            self._rules.clear()
            self._added = 0

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def describe(self) -> list[dict[str, Any]]:
        return [rule.describe() for rule in self.rules]

    def for_request(self, operation: str) -> FaultRule | None:
        """The request-level fault this request meets, if any (the first rule that fires)."""
        return self._draw(operation, REQUEST_KINDS)

    def for_job(self, operation: str) -> FaultRule | None:
        """The ``import-errors`` rule a bulk job of ``operation`` meets, if any."""
        return self._draw(operation, JOB_KINDS)

    def failing_records(self, rule: FaultRule, count: int) -> list[int]:
        """Indexes of the records of a job that ``rule`` makes fail (seeded)."""
        with self._lock:
            return [index for index in range(count) if rule.rng.random() < rule.share]

    def _draw(self, operation: str, kinds: tuple[str, ...]) -> FaultRule | None:
        now = self.clock()
        with self._lock:
            for rule in self._rules:
                if rule.kind not in kinds or not rule.matches(operation) or not rule.active(now):
                    continue
                if rule.probability is not None and rule.rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule
        return None


def _convert(name: str, value: Any) -> Any:
    try:
        if name in ("probability", "duration", "seconds", "share"):
            return float(value)
        if name == "next":
            return int(value)
        if name == "apply":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "yes"):
                return True
            if str(value).lower() in ("false", "0", "no"):
                return False
            raise ValueError(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"fault option {name}={value!r} is not valid") from None
