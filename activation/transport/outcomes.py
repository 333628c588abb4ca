"""The result of sending one record: shared by the transport, the destinations and the engine.

Statuses:
    acknowledged  the ESP accepted the record; the engine may commit its state
    failed        it could not be delivered this time (throttling, outage, timeout);
                  usually ``retryable``: the next run sends it again
    rejected      the ESP (or the packer) refused the record itself (invalid email,
                  too large); resending the same data will fail again until it changes
    uncertain     a non-idempotent send whose fate is unknown (read timeout, 5xx): the ESP
                  may have processed it and would count a resend twice; never resent
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["acknowledged", "failed", "rejected", "uncertain"]


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """What happened to the record with warehouse key ``key``."""

    key: str
    status: Status
    error_code: str | None = None
    error_message: str | None = None
    retryable: bool = False

    @classmethod
    def acknowledged(cls, key: str) -> RecordOutcome:
        return cls(key, "acknowledged")

    @classmethod
    def failed(cls, key: str, error_code: str, error_message: str, *, retryable: bool = True) -> RecordOutcome:
        return cls(key, "failed", error_code, error_message, retryable)

    @classmethod
    def rejected(cls, key: str, error_code: str, error_message: str, *, retryable: bool = False) -> RecordOutcome:
        return cls(key, "rejected", error_code, error_message, retryable)

    @classmethod
    def uncertain(cls, key: str, error_code: str, error_message: str) -> RecordOutcome:
        return cls(key, "uncertain", error_code, error_message, False)
