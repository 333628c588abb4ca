"""What every ``activation`` command shares: click's context settings and the usage-error exception.

Kept apart from the commands themselves so that importing it costs nothing: the command
line loads a command's module only when that command runs (see activation/cli.py).
"""

from __future__ import annotations

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class ConfigProblem(click.ClickException):
    """A usage or configuration problem, reported without the usage text (exit code 2)."""

    exit_code = 2
