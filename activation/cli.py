"""The ``activation`` command line (console script ``activation``, or ``python -m activation``).

Each command lives in its own module, loaded only when that command runs (or when
``activation --help`` lists them all): a cron job's ``activation sync`` does not import the
preview's and the report's Jinja, pyarrow, the simulators or the scheduled run's alerting
(DECISIONLOG, "Faster starts of activation", has the measurements). This is click's
documented pattern for lazily loaded subcommands: a ``Group`` whose ``get_command`` imports
the command's module.

Exit codes are each command's own (``activation COMMAND --help``); 2 is always a usage or
configuration error.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from activation.cli_common import CONTEXT

# command name -> "module:attribute" of its click command
COMMANDS = {
    "run": "activation.scheduled:run_command",
    "sync": "activation.commands:sync_command",
    "plan": "activation.commands:plan_command",
    "status": "activation.commands:status_command",
    "preview": "activation.preview:preview_command",
    "report": "activation.report.command:report_command",
    "simulate": "activation.simulate:simulate_group",
    "exposures": "activation.exposures:exposures_command",
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use, from ``commands`` (name -> "module:attribute")."""

    def __init__(self, *args: Any, commands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            module_name, attribute = self.lazy_commands[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command) or command.name != cmd_name:
                raise TypeError(f"{self.lazy_commands[cmd_name]} is not the click command {cmd_name!r}")
            self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, commands=COMMANDS, context_settings=CONTEXT)
def main() -> None:
    """Activation: get warehouse data into emails, safely.

    \b
    run       the scheduled run: dbt build what the syncs need, stop on failed tests, then sync
    sync      send what changed in the exports to the ESPs (syncs.yml declares what goes where)
    plan      show what a sync would change, without sending
    status    recent runs and their counts
    preview   render an email template for a contact or a seeded scenario
    report    write a self-contained HTML report: segment sizes, entries/exits, RFM, funnel, syncs
    simulate  run a local stand-in for an ESP's API (Klaviyo, Braze, Mailchimp, webhook)
    exposures generate the dbt exposures of the syncs (models/exposures/syncs.yml)

    Exports are dbt models (models/exports/); activation reads them and keeps its own state
    (runs, journal, per-record sync state) in the warehouse schema `activation`. The warehouse
    is a DuckDB file or a PostgreSQL database: --warehouse PATH|postgresql://host/db (or
    $ACTIVATION_WAREHOUSE); the password comes from PGPASSWORD or ~/.pgpass, never the URL.
    preview and report read DuckDB only.
    """
