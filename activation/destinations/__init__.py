"""Destinations by type; the engine asks `make_destination` and never names a vendor."""

from __future__ import annotations

from activation.config import Sync
from activation.destinations.base import Destination
from activation.errors import ConfigError


def make_destination(sync: Sync) -> Destination:
    kind = sync.destination.type
    if kind == "klaviyo":
        from activation.destinations.klaviyo import KlaviyoDestination

        return KlaviyoDestination(sync)
    if kind == "webhook":
        from activation.destinations.webhook import WebhookDestination

        return WebhookDestination(sync)
    if kind == "mailchimp":
        from activation.destinations.mailchimp import MailchimpDestination

        return MailchimpDestination(sync)
    if kind == "braze":
        from activation.destinations.braze import BrazeDestination

        return BrazeDestination(sync)
    raise ConfigError(f"sync {sync.name}: destination type {kind!r} is not available yet")
