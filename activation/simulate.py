"""``activation simulate``: local HTTP stand-ins for the ESPs' APIs (Klaviyo, Mailchimp, Braze, webhook).

Exit codes: 0 stopped with Ctrl-C, 2 usage or configuration error (a bad fault rule, a port in use).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from activation.cli_common import CONTEXT, ConfigProblem
from activation.errors import ConfigError


def _listen_options(default_port: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--host and --port of a simulator command."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option(
            "--port", type=click.IntRange(0, 65535), default=default_port, show_default=True,
            help="Port to listen on (0: any free port).",
        )(command)
        return click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")(command)

    return decorate


_seed_option = click.option(
    "--seed", type=int, default=0, show_default=True,
    help="Seed of the fault injection (same seed, same requests: same faults).",
)
_rate_limit_scale_option = click.option(
    "--rate-limit-scale", "scale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
    help="Multiply every rate limit (0.1: ten times stricter).",
)


def _fault_option(
    help_text: str = "A fault rule KIND[:key=value,...] (repeatable); see below.",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--fault", "faults", multiple=True, metavar="SPEC", help=help_text)


@click.group("simulate", context_settings=CONTEXT, short_help="Run a local ESP or webhook simulator.")
def simulate_group() -> None:
    """Run a local HTTP stand-in for an ESP's API until Ctrl-C.

    A simulator checks every request against the ESP's contract, enforces its batch and rate
    limits, answers with the ESP's real error shapes, keeps the resulting state (profiles,
    lists, events, ...) for inspection and injects faults on demand. Point a client's base URL
    at the printed address.
    """


@simulate_group.command("klaviyo", context_settings=CONTEXT, short_help="Simulate Klaviyo's API (revision 2026-07-15).")
@_listen_options(8765)
@_seed_option
@click.option("--rate-limits", "rate_limits", type=click.Choice(["production", "off"]), default="production",
              show_default=True, help="production: the contract's limits per operation; off: no limits (benchmarks).")
@_rate_limit_scale_option
@_fault_option()
@click.option("--api-key", metavar="KEY", help="Accept only this private key (default: any 'Klaviyo-API-Key ...').")
@click.option("--any-revision", is_flag=True, help="Accept any well-formed revision header (e.g. a client pinned "
              "to 2024-10-15); bodies are still checked against 2026-07-15.")
@click.option("--job-delay", type=click.FloatRange(min=0), default=0.2, show_default=True,
              help="Seconds a bulk import job takes from queued to complete.")
@click.option("--deletion-delay", type=click.FloatRange(min=0), default=0.2, show_default=True,
              help="Seconds until a deletion request has removed its profiles.")
@click.option("--list", "list_specs", multiple=True, metavar="ID=NAME",
              help="A list the account already has (repeatable), e.g. --list LstVip=VIP.")
@click.option("--lists-from", "lists_from", type=click.Path(dir_okay=False, path_type=Path), metavar="SYNCS_FILE",
              help="Create every list id that the file's Klaviyo syncs map segments to.")
def simulate_klaviyo_command(
    host: str,
    port: int,
    seed: int,
    rate_limits: str,
    scale: float,
    faults: tuple[str, ...],
    api_key: str | None,
    any_revision: bool,
    job_delay: float,
    deletion_delay: float,
    list_specs: tuple[str, ...],
    lists_from: Path | None,
) -> None:
    """Serve a simulated Klaviyo API at http://HOST:PORT until Ctrl-C.

    Requests are validated against contracts/klaviyo/*.json (revision 2026-07-15; override with
    $KLAVIYO_CONTRACT_DIR): headers `Authorization: Klaviyo-API-Key <key>` and
    `revision: 2026-07-15`, query parameters, and the JSON:API body. Rate limits are each
    operation's x-klaviyo-ratelimit, counted per operation in fixed 1-second (burst) and
    1-minute (steady) windows; a 429 carries Retry-After.

    \b
    Fault SPEC: KIND[:key=value,...]
      kinds  429 | 500 | 502 | 503 | timeout | reset | import-errors
      keys   op=OPERATION_ID  only this operation (default: all)
             next=N           the next N matching requests (or bulk jobs)
             p=0.1            each matching request with this probability (seeded)
             for=SECONDS      only during this long from start (a 429 storm)
             seconds=S        timeout: hold the answer S seconds (default 30);
                              429: the Retry-After (default: what is left of for=, else 1)
             share=F          import-errors: share of the job's profiles that fail (0.1)
             apply=true|false whether the request takes effect anyway
                              (default: true for timeout, false otherwise)

    \b
    Examples:
      activation simulate klaviyo
      activation simulate klaviyo --port 0 --rate-limits off
      activation simulate klaviyo --seed 7 --fault 503:p=0.05 --fault 429:op=create_event,for=10
      activation simulate klaviyo --fault import-errors:share=0.2 --fault reset:next=1,apply=true

    \b
    Admin endpoints (no API key, not rate limited):
      GET  /__simulator/state        profiles, lists, events, jobs, deletions,
                                     subscription calls, requests per operation
                                     (?summary=1: counts only)
      GET  /__simulator/stats        requests per operation and status, bytes
      POST /__simulator/faults       {"faults": ["503:p=0.1"], "replace": false}
      DELETE /__simulator/faults     remove every fault rule
      POST /__simulator/rate-limits  {"mode": "off"} or {"mode": "production", "scale": 0.5}
      POST /__simulator/reset        empty everything, restore the start-up faults
    """
    from activation.simulators.klaviyo import KlaviyoSimulator

    try:
        lists = _simulated_lists(list_specs, lists_from)
        simulator = KlaviyoSimulator(
            host=host, port=port, seed=seed, rate_limits=rate_limits, rate_limit_scale=scale, faults=faults,
            api_key=api_key, any_revision=any_revision, job_delay=job_delay, deletion_delay=deletion_delay,
            lists=lists,
        )

        def ready() -> None:
            click.echo(f"Klaviyo simulator (revision 2026-07-15) at {simulator.base_url}")
            click.echo(f"  rate limits: {rate_limits}" + (f" x{scale:g}" if scale != 1 else "") +
                       f"; seed {seed}; faults: {', '.join(faults) or 'none'}")

        _serve(simulator, ready)
    except ConfigError as error:
        raise ConfigProblem(str(error)) from None
    click.echo("Klaviyo simulator stopped.")


@simulate_group.command("mailchimp", context_settings=CONTEXT, short_help="Simulate Mailchimp's Marketing API (3.0).")
@_listen_options(8766)
@_seed_option
@_fault_option()
@click.option("--api-key", metavar="KEY", help="Accept only this API key as the Basic password (default: any).")
@click.option("--audience", "audience_specs", multiple=True, metavar="ID[=NAME]",
              help="An audience (list) the account has (repeatable), e.g. --audience aud1=Shop.")
@click.option("--audiences-from", "audiences_from", type=click.Path(dir_okay=False, path_type=Path),
              metavar="SYNCS_FILE", help="Create every audience (settings.list_id) the file's Mailchimp syncs use.")
@click.option("--connection-limit", type=click.IntRange(min=0), default=10, show_default=True,
              help="Simultaneous requests allowed; one more is answered 429 (0: no limit).")
@click.option("--latency", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds every API answer is held (makes concurrency visible).")
def simulate_mailchimp_command(
    host: str,
    port: int,
    seed: int,
    faults: tuple[str, ...],
    api_key: str | None,
    audience_specs: tuple[str, ...],
    audiences_from: Path | None,
    connection_limit: int,
    latency: float,
) -> None:
    """Serve a simulated Mailchimp Marketing API at http://HOST:PORT (paths /3.0/...) until Ctrl-C.

    Requests are validated against contracts/mailchimp/marketing-3.0.json (a JSON Schema per
    operation written from the documented contract; override with $MAILCHIMP_CONTRACT_DIR):
    HTTP Basic auth with the API key as password, query parameters and JSON bodies (500
    members per batch upsert, 500 adds and 500 removals per tag call). Errors are
    application/problem+json. Mailchimp has no per-second quota but allows 10 simultaneous
    connections: a request beyond --connection-limit is answered 429. Point a client's base
    URL at http://HOST:PORT (paths stay /3.0/...).

    \b
    Fault SPEC: KIND[:key=value,...]
      kinds  429 | 500 | 502 | 503 | timeout | reset | import-errors
      keys   op=OPERATION     only this operation (default: all): batch_subscribe,
                              upsert_member, update_member_tags, create_member_event,
                              delete_member_permanent, get_merge_fields, create_merge_field,
                              get_segments, create_segment, batch_segment_members, ...
             next=N           the next N matching requests (or batch upserts)
             p=0.1            each matching request with this probability (seeded)
             for=SECONDS      only during this long from start (a 429 storm)
             seconds=S        timeout: hold the answer S seconds (default 30);
                              429: the Retry-After (default: what is left of for=, else 1)
             share=F          import-errors: share of a batch upsert's members that fail (0.1)
             apply=true|false whether the request takes effect anyway
                              (default: true for timeout, false otherwise)

    \b
    Examples:
      activation simulate mailchimp --audience aud1=Shop
      activation simulate mailchimp --audiences-from syncs.mailchimp.yml --latency 0.05
      activation simulate mailchimp --seed 7 --fault 503:p=0.05 --fault import-errors:share=0.2

    \b
    Admin endpoints (no API key, never limited):
      GET  /__simulator/state        audiences: members (status, merge fields, tags
                                     active/inactive), merge fields, tags, events,
                                     permanently deleted addresses; compliance refusals;
                                     peak connections (?summary=1: counts only)
      GET  /__simulator/stats        requests per operation and status, bytes
      POST /__simulator/faults       {"faults": ["503:p=0.1"], "replace": false}
      DELETE /__simulator/faults     remove every fault rule
      POST /__simulator/reset        empty everything, restore the start-up faults
    """
    from activation.simulators.mailchimp import MailchimpSimulator

    try:
        audiences = _simulated_audiences(audience_specs, audiences_from)
        simulator = MailchimpSimulator(
            host=host, port=port, seed=seed, faults=faults, audiences=audiences, api_key=api_key,
            connection_limit=connection_limit, latency=latency,
        )

        def ready() -> None:
            click.echo(f"Mailchimp simulator (Marketing API 3.0) at {simulator.base_url} (paths /3.0/...)")
            click.echo(f"  rehearse a sync: MAILCHIMP_BASE_URL={simulator.base_url} MAILCHIMP_API_KEY=key-us1")
            click.echo(f"  audiences: {', '.join(audiences) or 'none (add --audience ID)'}; connection limit: "
                       f"{connection_limit or 'off'}; seed {seed}; faults: {', '.join(faults) or 'none'}")

        _serve(simulator, ready)
    except ConfigError as error:
        raise ConfigProblem(str(error)) from None
    click.echo("Mailchimp simulator stopped.")


def _simulated_audiences(specs: tuple[str, ...], syncs_file: Path | None) -> dict[str, str]:
    """Audience id -> name from --audience ID[=NAME] options and the Mailchimp syncs of a syncs file."""
    audiences: dict[str, str] = {}
    if syncs_file is not None:
        from activation.config import load_syncs

        for sync in load_syncs(syncs_file).syncs:
            if sync.destination.type == "mailchimp" and sync.destination.settings.get("list_id"):
                list_id = str(sync.destination.settings["list_id"])
                audiences[list_id] = list_id
    for spec in specs:
        list_id, _, name = spec.partition("=")
        if not list_id:
            raise ConfigError(f"--audience {spec!r}: expected ID or ID=NAME, e.g. --audience aud1=Shop")
        audiences[list_id] = name or list_id
    return audiences


@simulate_group.command("braze", context_settings=CONTEXT,
                        short_help="Simulate Braze's /users/track and /users/delete.")
@_listen_options(8767)
@_seed_option
@click.option("--rate-limits", "rate_limits", type=click.Choice(["production", "off"]), default="production",
              show_default=True, help="production: /users/track 3,000 per 3 s, /users/delete 20,000 per minute; "
              "off: no limits (benchmarks).")
@_rate_limit_scale_option
@_fault_option()
@click.option("--api-key", metavar="KEY", help="Accept only this REST API key (default: any 'Bearer ...').")
@click.option("--objects-per-request", type=click.IntRange(1, 1000), default=75, show_default=True,
              help="Most objects per /users/track array (MAU plans: 50).")
@click.option("--limit-mode", type=click.Choice(["per_array", "total"]), default="per_array", show_default=True,
              help="per_array: the limit applies to attributes, events and purchases each; total: to all "
              "of them together (newer accounts).")
@click.option("--array-max-length", type=click.IntRange(1, 10_000), default=25, show_default=True,
              help="Longest array attribute; adding beyond it drops the oldest values.")
def simulate_braze_command(
    host: str,
    port: int,
    seed: int,
    rate_limits: str,
    scale: float,
    faults: tuple[str, ...],
    api_key: str | None,
    objects_per_request: int,
    limit_mode: str,
    array_max_length: int,
) -> None:
    """Serve a simulated Braze REST API at http://HOST:PORT until Ctrl-C.

    Requests are validated against contracts/braze/braze.schema.json (override the directory
    with $BRAZE_CONTRACT_DIR): `Authorization: Bearer <key>`, `Content-Type: application/json`,
    the request envelope (fatal: 400, nothing processed) and every attributes/events object
    (non-fatal: 201 with errors [{type, input_array, index}], the other objects processed).
    Events are recorded without deduplication, as Braze does. Rate limits are fixed windows
    per endpoint; answers carry X-RateLimit-Limit/Remaining/Reset, and a 429 carries
    X-RateLimit-Reset (epoch seconds).

    \b
    Fault SPEC: KIND[:key=value,...]
      kinds  429 | 500 | 502 | 503 | timeout | reset | import-errors
      keys   op=OPERATION     users_track | users_delete (default: all)
             next=N           the next N matching requests
             p=0.1            each matching request with this probability (seeded)
             for=SECONDS      only during this long from start (a 429 storm)
             seconds=S        timeout: hold the answer S seconds (default 30);
                              429: when to come back (default: what is left of for=, else 1)
             share=F          import-errors: share of a request's objects that fail
                              with a per-object error (a partial success)
             apply=true|false whether the request takes effect anyway
                              (default: true for timeout, false otherwise)

    \b
    Examples:
      activation simulate braze
      activation simulate braze --port 0 --rate-limits off
      activation simulate braze --seed 7 --fault 503:p=0.05 --fault import-errors:share=0.1
      activation simulate braze --objects-per-request 50 --limit-mode total

    \b
    Rehearse a sync against it:
      BRAZE_BASE_URL=http://127.0.0.1:8766 BRAZE_API_KEY=test activation sync --syncs syncs.braze.yml

    \b
    Admin endpoints (no API key, not rate limited):
      GET  /__simulator/state        users with attributes, events (no dedupe) and
                                     duplicate count, deletions, subscription changes,
                                     requests per operation (?summary=1: counts only)
      GET  /__simulator/stats        requests per operation and status, bytes
      POST /__simulator/faults       {"faults": ["503:p=0.1"], "replace": false}
      DELETE /__simulator/faults     remove every fault rule
      POST /__simulator/rate-limits  {"mode": "off"} or {"mode": "production", "scale": 0.5}
      POST /__simulator/reset        empty everything, restore the start-up faults
    """
    from activation.simulators.braze import BrazeSimulator

    try:
        simulator = BrazeSimulator(
            host=host, port=port, seed=seed, rate_limits=rate_limits, rate_limit_scale=scale, faults=faults,
            api_key=api_key, objects_per_request=objects_per_request, limit_mode=limit_mode,
            array_max_length=array_max_length,
        )

        def ready() -> None:
            click.echo(f"Braze simulator at {simulator.base_url}")
            click.echo(f"  rate limits: {rate_limits}" + (f" x{scale:g}" if scale != 1 else "") +
                       f"; {objects_per_request} objects {limit_mode.replace('_', ' ')}; seed {seed}; "
                       f"faults: {', '.join(faults) or 'none'}")

        _serve(simulator, ready)
    except ConfigError as error:
        raise ConfigProblem(str(error)) from None
    click.echo("Braze simulator stopped.")


def _simulated_lists(specs: tuple[str, ...], syncs_file: Path | None) -> dict[str, str]:
    """List id -> name from --list ID=NAME options and the Klaviyo list mappings of a syncs file."""
    lists: dict[str, str] = {}
    if syncs_file is not None:
        from activation.config import load_syncs

        for sync in load_syncs(syncs_file).syncs:
            if sync.destination.type == "klaviyo":
                lists.update({list_id: segment for segment, list_id in sync.lists.items()})
    for spec in specs:
        list_id, sep, name = spec.partition("=")
        if not sep or not list_id:
            raise ConfigError(f"--list {spec!r}: expected ID=NAME, e.g. --list LstVip=VIP")
        lists[list_id] = name or list_id
    return lists


@simulate_group.command("webhook", context_settings=CONTEXT,
                        short_help="Receive signed webhook batches (the webhook destination).")
@click.option("--secret-env", "secret_env", default="WEBHOOK_SECRET", show_default=True, metavar="NAME",
              help="Environment variable holding the signing secret (the sync's credentials.secret).")
@_listen_options(8770)
@click.option("--path", metavar="PATH", help="Accept deliveries only at this path (default: any path).")
@click.option("--tolerance", type=click.FloatRange(min=0), default=300, show_default=True,
              help="Seconds an X-Timestamp may be away from now before it is refused as stale (401).")
@_seed_option
@click.option("--rate-limit", "rate_limit", multiple=True, metavar="N/UNIT",
              help="Answer 429 above this rate (repeatable, e.g. --rate-limit 10/s --rate-limit 300/m).")
@click.option("--max-records", type=click.IntRange(min=1), help="Answer 413 to batches with more records.")
@click.option("--max-bytes", type=click.IntRange(min=1), help="Answer 413 to bodies larger than this.")
@_fault_option("A fault rule KIND[:key=value,...] (repeatable), as for the Klaviyo simulator; op is 'deliver'.")
@click.option("--record-error", "record_errors", multiple=True, metavar="KEY[=MESSAGE]",
              help="Answer this record key with a per-record error (repeatable).")
@click.option("--reject-key", "reject_keys", multiple=True, metavar="KEY",
              help="Refuse (400) every batch holding this record key, as a receiver that cannot parse it.")
def simulate_webhook_command(
    secret_env: str,
    host: str,
    port: int,
    path: str | None,
    tolerance: float,
    seed: int,
    rate_limit: tuple[str, ...],
    max_records: int | None,
    max_bytes: int | None,
    faults: tuple[str, ...],
    record_errors: tuple[str, ...],
    reject_keys: tuple[str, ...],
) -> None:
    """Serve a receiver for the signed webhook destination at http://HOST:PORT until Ctrl-C.

    Every POST must carry `X-Timestamp` (Unix seconds, within --tolerance of now), `X-Signature:
    sha256=<hex HMAC-SHA256 of TIMESTAMP + "." + raw body>` with the secret from --secret-env,
    and an `Idempotency-Key` equal to the body's batch_id. A bad or stale signature is
    answered 401. A key seen before replays the first answer and applies nothing. Records
    are kept by key: profiles (last payload, merged attributes), list members per list_id,
    events (duplicates counted), deletions. The answer is 200 with per-record results.

    \b
    Rehearse a webhook sync (docs/destinations/webhook.md):
      export WEBHOOK_SECRET=dev-secret
      activation simulate webhook --secret-env WEBHOOK_SECRET
      WEBHOOK_BASE_URL=http://127.0.0.1:8770 activation sync --syncs syncs.webhook.yml

    \b
    Fault SPEC: KIND[:key=value,...]  (op=deliver or omitted)
      kinds  429 | 500 | 502 | 503 | timeout | reset | import-errors
             (import-errors: a share= of each batch's records answered as errors)
      keys   next=N, p=0.1, for=SECONDS, seconds=S, share=F, apply=true|false

    \b
    Admin endpoints (no signature, not rate limited):
      GET  /__simulator/state            records, lists, events, deletions, batches, replays
      GET  /__simulator/stats            requests per status, bytes
      POST /__simulator/faults           {"faults": ["503:p=0.1"], "replace": false}
      POST /__simulator/record-errors    {"errors": {"KEY": "message"}, "reject": ["KEY"]}
      DELETE /__simulator/record-errors  answer every record ok again
      POST /__simulator/reset            empty everything, restore the start-up options
    """
    import os

    from activation.simulators.webhook import WebhookSimulator

    try:
        secret = os.environ.get(secret_env)
        if not secret:
            raise ConfigError(f"environment variable {secret_env} (--secret-env) is not set: export the signing "
                              "secret the sync uses (its credentials.secret)")
        errors = {}
        for spec in record_errors:
            key, _, message = spec.partition("=")
            errors[key] = message or "rejected by the simulator (--record-error)"
        simulator = WebhookSimulator(
            host=host, port=port, seed=seed, faults=faults, secret=secret, tolerance=tolerance, path=path,
            rate_limit=rate_limit, max_records=max_records, max_bytes=max_bytes, record_errors=errors,
            reject_keys=reject_keys,
        )

        def ready() -> None:
            click.echo(f"Webhook receiver at {simulator.base_url}{path or '/'} (secret from ${secret_env})")
            click.echo(f"  rate limit: {', '.join(rate_limit) or 'none'}; seed {seed}; "
                       f"faults: {', '.join(faults) or 'none'}")

        _serve(simulator, ready)
    except ConfigError as error:
        raise ConfigProblem(str(error)) from None
    click.echo("Webhook simulator stopped.")


def _serve(simulator: Any, announce: Callable[[], None]) -> None:
    """Run `simulator` until Ctrl-C; once it listens, print `announce`'s lines and where its state is."""

    def ready() -> None:
        announce()
        click.echo(f"  state: {simulator.base_url}/__simulator/state   (Ctrl-C to stop)")

    simulator.serve_forever(on_ready=ready)
