"""The HTTP layer shared by every destination (Klaviyo, Braze, Mailchimp, webhooks): nothing vendor-specific.

Modules:
    limits       what a destination declares: RateLimit, EndpointClass, DestinationLimits
    batching     pack records into requests by count and encoded bytes; oversized ones rejected
    limiter      thread-safe sliding-window rate limiter per endpoint class, pausable by a 429
    client       Transport: httpx + tenacity; retries, backoff with full jitter, stats, redaction
    split        send_with_split: halve a batch the ESP rejected until the bad records are isolated
    outcomes     RecordOutcome: what happened to one record (shared with destinations and the engine)
    concurrency  run_concurrently: a bounded thread pool
    redaction    keep credentials out of logs and exception messages

A destination declares its limits once, builds one Transport, packs its records
with ``pack``, and sends each batch through ``send_with_split``, its callback
calling ``Transport.send`` and mapping the ESP's answer to RecordOutcomes.
"""

from activation.errors import BatchRejected, RequestFailed, RetriesExhausted, TransportError
from activation.transport.batching import pack
from activation.transport.client import EndpointStats, Transport
from activation.transport.concurrency import run_concurrently
from activation.transport.limiter import RateLimiter
from activation.transport.limits import DestinationLimits, EndpointClass, RateLimit
from activation.transport.outcomes import RecordOutcome
from activation.transport.split import send_with_split

__all__ = [
    "BatchRejected", "DestinationLimits", "EndpointClass", "EndpointStats", "RateLimit", "RateLimiter",
    "RecordOutcome", "RequestFailed", "RetriesExhausted", "Transport", "TransportError", "pack",
    "run_concurrently", "send_with_split",
]
