"""Local stand-ins for ESP APIs: they validate, rate limit, keep state and misbehave on demand.

Modules:
    base           the server in a background thread, the request pipeline, stats, the admin API
    ratelimit      fixed-window rate limiting per endpoint class
    faults         seeded fault rules: 429 storms, 5xx, timeouts, connection resets, import errors
    klaviyo_state  a Klaviyo account's state and rules (profiles, lists, events, jobs, consent)
    klaviyo        the Klaviyo simulator (``KlaviyoSimulator``)
    braze_state, braze            the Braze simulator (``BrazeSimulator``): /users/track, /users/delete
    mailchimp_state, mailchimp    the Mailchimp simulator (``MailchimpSimulator``): members, merge fields, tags
    webhook        a receiver of signed webhook batches (``WebhookSimulator``)
    rehearsal      start the simulator a syncs file needs, with the env that points the syncs at it
"""

from activation.simulators.klaviyo import KlaviyoSimulator

__all__ = ["KlaviyoSimulator"]
