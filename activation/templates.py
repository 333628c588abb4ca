"""Jinja2 email templates: the environment, the catalogue and rendering one email.

An email named NAME is three files in ``activation/templates/email/``:

* ``NAME.subject.j2``  the subject line (plain text; whitespace collapsed to one line)
* ``NAME.txt.j2``      the plain-text part
* ``NAME.html.j2``     the HTML part (autoescaped)

Files starting with ``_`` are partials (layouts and blocks) that emails extend
or include. Templates see exactly the export contract's columns as variables
(json columns as lists of dicts); an unknown variable or attribute fails the
render (``StrictUndefined``) instead of printing nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2

from activation.errors import ConfigError, RenderError

TEMPLATES_DIR = Path(__file__).parent / "templates" / "email"
PARTS = ("subject", "txt", "html")
_DESCRIPTION = re.compile(r"\A\s*\{#\s*(.*?)\s*#\}", re.DOTALL)


@dataclass(frozen=True)
class RenderedEmail:
    """One email rendered for one profile."""

    name: str
    subject: str
    text: str
    html: str


def make_environment(loader: jinja2.BaseLoader | None = None) -> jinja2.Environment:
    """The Jinja2 environment emails render in (default loader: the packaged templates)."""
    environment = jinja2.Environment(
        loader=loader or jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "html"), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["money"] = money
    return environment


def money(value: Any) -> str:
    """A price with two decimals and thousands separators: 1234.5 -> '1,234.50'."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise TypeError(f"money expects a number, got {type(value).__name__} {value!r}")
    return f"{Decimal(str(value)).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def template_file(name: str, part: str) -> str:
    """The file name of one part (subject, txt, html) of email `name`."""
    return f"{name}.{part}.j2"


def list_emails(environment: jinja2.Environment) -> list[str]:
    """Names of the emails in the environment: every NAME with a NAME.<part>.j2 that is not a partial."""
    names = set()
    for file in environment.list_templates(extensions=["j2"]):
        if "/" in file or file.startswith("_"):
            continue
        for part in PARTS:
            suffix = f".{part}.j2"
            if file.endswith(suffix):
                names.add(file[: -len(suffix)])
    return sorted(names)


def describe(environment: jinja2.Environment, name: str) -> str:
    """The email's one-line description: the leading {# comment #} of its HTML part ('' when none)."""
    assert environment.loader is not None
    try:
        source, _, _ = environment.loader.get_source(environment, template_file(name, "html"))
    except jinja2.TemplateNotFound:
        return ""
    match = _DESCRIPTION.match(source)
    return " ".join(match.group(1).split()) if match else ""


def render_email(environment: jinja2.Environment, name: str, variables: Mapping[str, Any]) -> RenderedEmail:
    """Render every part of email `name` with `variables` (the decoded export columns)."""
    available = list_emails(environment)
    if name not in available:
        raise ConfigError(f"unknown template {name!r}; available: {', '.join(available) or '(none)'}")
    rendered = {part: _render(environment, template_file(name, part), variables) for part in PARTS}
    return RenderedEmail(
        name=name,
        subject=" ".join(rendered["subject"].split()),
        text=re.sub(r"\n{3,}", "\n\n", rendered["txt"]).strip() + "\n",
        html=rendered["html"].strip() + "\n",
    )


def _render(environment: jinja2.Environment, file: str, variables: Mapping[str, Any]) -> str:
    try:
        return environment.get_template(file).render(variables)
    except jinja2.TemplateNotFound as error:
        raise RenderError(f"{file}: template {error.name} not found in {TEMPLATES_DIR}") from None
    except jinja2.TemplateSyntaxError as error:
        raise RenderError(f"{error.name or file} line {error.lineno}: syntax error: {error.message}") from None
    except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError) as error:
        where = _template_lines(error.__traceback__) or file
        raise RenderError(f"{where}: {type(error).__name__}: {error}") from None


def _template_lines(traceback: TracebackType | None) -> str:
    """Where a render error happened: '_cart.txt.j2 line 4 (via cart_reminder.txt.j2 line 3, ...)'."""
    frames = []
    while traceback is not None:
        filename = traceback.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            frames.append(f"{Path(filename).name} line {traceback.tb_lineno}")
        traceback = traceback.tb_next
    if not frames:
        return ""
    innermost, *outer = reversed(frames)
    return f"{innermost} (via {', '.join(outer)})" if outer else innermost
