"""``activation preview``: render an email template for a contact or a seeded scenario.

Exit codes: 0 ok, 2 usage or configuration error (unknown template or scenario, missing
warehouse, table or contact), 1 a template failed to render.
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

from activation.cli_common import CONTEXT, ConfigProblem
from activation.contract import ExportContract, load_contract
from activation.db import DEFAULT_WAREHOUSE, default_warehouse_path
from activation.errors import ConfigError, RenderError
from activation.scenarios import SCENARIOS_PATH, get_scenario, load_scenarios
from activation.templates import (
    TEMPLATES_DIR,
    RenderedEmail,
    describe,
    list_emails,
    make_environment,
    render_email,
)
from activation.warehouse import read_contact


class RenderProblem(click.ClickException):
    """A template failed to render (exit code 1)."""

    exit_code = 1


@dataclass(frozen=True)
class Profile:
    """Template variables and where they came from (for the preview header)."""

    label: str
    variables: dict[str, Any]


@click.command(
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
