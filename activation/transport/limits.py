"""What a destination declares about its ESP: rates, batch sizes and concurrency per endpoint class.

An *endpoint class* is a set of operations that share one rate budget and one
batch shape (Klaviyo's bulk profile import, its event endpoint, Mailchimp's
batch member upsert, ...). Each destination module builds one
``DestinationLimits`` from its vendor's documentation or contract; the limiter,
the packer and the HTTP client read it. Nothing here is vendor-specific.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from activation.errors import ConfigError

WINDOW_SECONDS = {"s": 1.0, "m": 60.0, "d": 86_400.0}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smd])\s*$")


@dataclass(frozen=True)
class RateLimit:
    """Requests allowed per second, per minute and per day; ``None`` means no limit on that window."""

    per_second: int | None = None
    per_minute: int | None = None
    per_day: int | None = None

    def __post_init__(self) -> None:
        for name in ("per_second", "per_minute", "per_day"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"RateLimit.{name} must be a positive integer or None, not {value!r}")

    def windows(self) -> list[tuple[float, int]]:
        """(window length in seconds, requests allowed in it) for every declared window."""
        pairs = [(1.0, self.per_second), (60.0, self.per_minute), (86_400.0, self.per_day)]
        return [(seconds, limit) for seconds, limit in pairs if limit is not None]

    @classmethod
    def parse(cls, *specs: str) -> RateLimit:
        """Build from Klaviyo-style strings: ``RateLimit.parse("10/s", "150/m")``.

        ``N/s``, ``N/m`` and ``N/d`` map to one window each. A multi-unit window
        (Braze's "3000/3s") is converted to the stricter single-unit rate
        (1000/s): never more than N in any k units, at the cost of forbidding a
        burst of N inside one unit.
        """
        found: dict[str, int] = {}
        for spec in specs:
            match = _RATE.match(spec)
            if match is None:
                raise ConfigError(f"cannot read rate limit {spec!r}: write it as N/s, N/m or N/d (e.g. '10/s')")
            count, units, unit = int(match[1]), int(match[2] or 1), match[3]
            per_unit = count // units
            if per_unit < 1:
                raise ConfigError(f"rate limit {spec!r} allows less than one request per {unit}; use a longer unit")
            field = {"s": "per_second", "m": "per_minute", "d": "per_day"}[unit]
            found[field] = min(per_unit, found.get(field, per_unit))
        return cls(**found)


@dataclass(frozen=True)
class EndpointClass:
    """One rate budget and batch shape: at most ``max_records`` and ``max_bytes`` per request."""

    name: str
    rate_limit: RateLimit
    max_records: int
    max_bytes: int
    max_record_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.max_records < 1 or self.max_bytes < 1:
            raise ConfigError(f"endpoint class {self.name!r}: max_records and max_bytes must be positive")
        if self.max_record_bytes is not None and not 0 < self.max_record_bytes <= self.max_bytes:
            raise ConfigError(f"endpoint class {self.name!r}: max_record_bytes must be in 1..max_bytes")


@dataclass(frozen=True)
class DestinationLimits:
    """Every endpoint class of one destination, and how many requests may be in flight at once."""

    endpoint_classes: dict[str, EndpointClass]
    max_concurrency: int

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be at least 1, not {self.max_concurrency}")
        for name, endpoint in self.endpoint_classes.items():
            if name != endpoint.name:
                raise ConfigError(f"endpoint class registered as {name!r} is named {endpoint.name!r}; use one name")

    def get(self, name: str) -> EndpointClass:
        """The endpoint class called ``name``; a ConfigError naming the declared ones if there is none."""
        try:
            return self.endpoint_classes[name]
        except KeyError:
            declared = ", ".join(sorted(self.endpoint_classes)) or "none"
            raise ConfigError(
                f"endpoint class {name!r} is not declared by this destination (declared: {declared}); "
                "add it to the destination's DestinationLimits"
            ) from None
