"""Command line: ``activation preview ...`` and ``activation simulate ...``
(console script ``activation``, or ``python -m activation``).

Exit codes: 0 ok, 2 usage or configuration error (bad option, unknown template
or scenario, missing warehouse, table or contact, a port in use), 1 a template
failed to render.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import jinja2
from click.core import ParameterSource

from activation.contract import ExportContract, load_contract
from activation.errors import ConfigError, RenderError
from activation.scenarios import SCENARIOS_PATH, get_scenario, load_scenarios
from activation.templates import TEMPLATES_DIR, RenderedEmail, describe, list_emails, make_environment, render_email
from activation.warehouse import DEFAULT_WAREHOUSE, default_warehouse_path, read_contact

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class ConfigProblem(click.ClickException):
    """A usage or configuration problem, reported without the usage text (exit code 2)."""

    exit_code = 2


class RenderProblem(click.ClickException):
    """A template failed to render (exit code 1)."""

    exit_code = 1


@dataclass(frozen=True)
class Profile:
    """Template variables and where they came from (for the preview header)."""

    label: str
    variables: dict[str, Any]


@click.group(context_settings=CONTEXT)
def main() -> None:
    """Activation: get warehouse data into emails, safely.

    \b
    sync      send what changed in the exports to the ESPs (syncs.yml declares what goes where)
    plan      show what a sync would change, without sending
    status    recent runs and their counts
    preview   render an email template for a contact or a seeded scenario
    simulate  run a local stand-in for an ESP's API to rehearse, test and benchmark against

    Exports are dbt models (models/exports/); activation reads them and keeps its own state
    (runs, journal, per-record sync state) in the warehouse schema `activation`.
    """


@main.command(
    "preview", context_settings=CONTEXT, short_help="Render an email template for a contact or a seeded scenario."
)
@click.argument("template", required=False)
@click.option(
    "--customer", "contact_key", metavar="CONTACT_KEY", help="Render for this contact_key from the warehouse."
)
@click.option("--email", metavar="EMAIL", help="Render for the contact with this email address from the warehouse.")
@click.option("--scenario", metavar="NAME", help="Render for one seeded scenario profile (see --list).")
@click.option("--all-scenarios", is_flag=True, help="Render once for every seeded scenario profile.")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=default_warehouse_path,
    show_default=f"$WAREHOUSE_PATH or ./{DEFAULT_WAREHOUSE}",
    help="DuckDB warehouse to read --customer / --email from (opened read-only).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "html"]),
    default="text",
    show_default=True,
    help="text: subject line and plain-text part; html: the HTML part (redirect it to a file to open in a browser).",
)
@click.option("--list", "list_only", is_flag=True, help="List the templates and scenarios, then exit.")
@click.pass_context
def preview_command(
    ctx: click.Context,
    template: str | None,
    contact_key: str | None,
    email: str | None,
    scenario: str | None,
    all_scenarios: bool,
    db_path: Path,
    fmt: str,
    list_only: bool,
) -> None:
    """Render email TEMPLATE for one contact or seeded scenario and print it.

    Exactly one of --customer, --email, --scenario or --all-scenarios says whose variables to
    use. A contact's row is read from exports.export_contact_template_variables in the
    warehouse (build it first: `make demo`, or `dbt build`); json columns (cart_items,
    recommended_products) are decoded into lists. Scenarios are the seeded profiles in
    activation/templates/email/scenarios.yml and need no warehouse.

    Templates use Jinja2 with StrictUndefined: a variable or field the contract does not
    have fails the render instead of printing nothing. HTML is autoescaped.

    \b
    Examples:
      activation preview --list
      activation preview newsletter --scenario abandoned_cart
      activation preview newsletter --all-scenarios
      activation preview cart_reminder --customer 3f2a... --db warehouse.duckdb
      activation preview welcome --email ada@example.com --format html > welcome.html

    \b
    Exit codes: 0 ok, 2 usage or configuration error (unknown template or scenario,
    missing warehouse, table or contact), 1 a template failed to render.
    The export contract is read from the dbt project: $DBT_PROJECT_DIR, else this checkout,
    else the working directory.
    """
    sources = {
        "--customer": contact_key is not None,
        "--email": email is not None,
        "--scenario": scenario is not None,
        "--all-scenarios": all_scenarios,
    }
    chosen = [option for option, given in sources.items() if given]
    db_given = ctx.get_parameter_source("db_path") is ParameterSource.COMMANDLINE
    if list_only:
        if template or chosen or db_given or ctx.get_parameter_source("fmt") is ParameterSource.COMMANDLINE:
            raise click.UsageError("--list takes no TEMPLATE and no other options")
    else:
        if not template:
            raise click.UsageError("missing TEMPLATE (see `activation preview --list`)")
        if len(chosen) != 1:
            raise click.UsageError(
                "give exactly one of --customer, --email, --scenario or --all-scenarios"
                + (f" (got {', '.join(chosen)})" if chosen else "")
            )
        if db_given and not (sources["--customer"] or sources["--email"]):
            raise click.UsageError("--db only applies to --customer and --email")

    try:
        contract = load_contract()
        environment = make_environment()
        if list_only:
            click.echo(_listing(environment, contract))
            return
        assert template is not None
        if template not in list_emails(environment):
            raise ConfigError(
                f"unknown template {template!r}; available: {', '.join(list_emails(environment))} "
                "(see `activation preview --list`)"
            )
        profiles = _profiles(contract, db_path, contact_key, email, scenario, all_scenarios)
        failures = []
        for index, profile in enumerate(profiles):
            try:
                rendered = render_email(environment, template, profile.variables)
            except RenderError as error:
                failures.append(f"{template} for {profile.label}: {error}")
                continue
            if index:
                click.echo("")
            click.echo(_format(rendered, profile, fmt, header=all_scenarios), nl=False)
    except ConfigError as error:
        raise ConfigProblem(str(error)) from None
    if failures:
        raise RenderProblem("render failed:\n  " + "\n  ".join(failures))


def _profiles(
    contract: ExportContract,
    db_path: Path,
    contact_key: str | None,
    email: str | None,
    scenario: str | None,
    all_scenarios: bool,
) -> Iterator[Profile]:
    if contact_key is not None:
        yield Profile(f"contact {contact_key}", read_contact(db_path, contract, contact_key=contact_key))
    elif email is not None:
        yield Profile(f"contact {email}", read_contact(db_path, contract, email=email))
    else:
        scenarios = load_scenarios(contract)
        names = list(scenarios) if all_scenarios else [get_scenario(scenarios, scenario or "").name]
        for name in names:
            yield Profile(f"scenario {name}", scenarios[name].variables)


def _format(rendered: RenderedEmail, profile: Profile, fmt: str, header: bool) -> str:
    if fmt == "html":
        comment = html.escape(f"{rendered.name} for {profile.label}; subject: {rendered.subject}").replace("--", "- -")
        return f"<!-- {comment} -->\n{rendered.html}"
    lines = []
    if header:
        lines.append(f"===== {rendered.name} for {profile.label} =====")
    lines.append(f"To: {profile.variables.get('email', '')}")
    lines.append(f"Subject: {rendered.subject}")
    return "\n".join(lines) + "\n\n" + rendered.text


def _listing(environment: jinja2.Environment, contract: ExportContract) -> str:
    emails = list_emails(environment)
    scenarios = load_scenarios(contract)
    width = max(len(name) for name in [*emails, *scenarios])
    lines = [f"Templates ({_shown(TEMPLATES_DIR)}):"]
    lines += [f"  {name:<{width}}  {describe(environment, name)}".rstrip() for name in emails]
    lines += ["", f"Scenarios ({_shown(SCENARIOS_PATH)}):"]
    lines += [f"  {name:<{width}}  {scenario.description}".rstrip() for name, scenario in scenarios.items()]
    lines += ["", "Preview one: activation preview TEMPLATE --scenario NAME (or --customer CONTACT_KEY)"]
    return "\n".join(lines)


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it is below it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@main.group("simulate", context_settings=CONTEXT, short_help="Run a local ESP simulator (Klaviyo).")
def simulate_group() -> None:
    """Run a local HTTP stand-in for an ESP's API until Ctrl-C.

    A simulator checks every request against the ESP's contract, enforces its batch and rate
    limits, answers with the ESP's real error shapes, keeps the resulting state (profiles,
    lists, events, ...) for inspection and injects faults on demand. Point a client's base URL
    at the printed address.
    """


@simulate_group.command("klaviyo", context_settings=CONTEXT, short_help="Simulate Klaviyo's API (revision 2026-07-15).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fault injection (same seed, "
              "same requests: same faults).")
@click.option("--rate-limits", "rate_limits", type=click.Choice(["production", "off"]), default="production",
              show_default=True, help="production: the contract's limits per operation; off: no limits (benchmarks).")
@click.option("--rate-limit-scale", "scale", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="Multiply every rate limit (0.1: ten times stricter).")
@click.option("--fault", "faults", multiple=True, metavar="SPEC",
              help="A fault rule KIND[:key=value,...] (repeatable); see below.")
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
            click.echo(f"  state: {simulator.base_url}/__simulator/state   (Ctrl-C to stop)")

        simulator.serve_forever(on_ready=ready)
    except ConfigError as error:
        raise ConfigProblem(str(error)) from None
    click.echo("Klaviyo simulator stopped.")


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


def _register_sync_commands() -> None:
    from activation.commands import plan_command, status_command, sync_command

    main.add_command(sync_command)
    main.add_command(plan_command)
    main.add_command(status_command)


_register_sync_commands()


def _register_ops_commands() -> None:
    from activation.exposures import exposures_command
    from activation.scheduled import run_command

    main.add_command(run_command)
    main.add_command(exposures_command)


_register_ops_commands()
