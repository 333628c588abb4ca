"""A JSON Schema (Draft 2020-12) validator whose common case, a valid instance, is checked in compiled code.

The simulators check every object of every request against the ESP contract
(Braze: each of up to 75 /users/track objects; Mailchimp: up to 500 members).
Profiling a sync of 20,000 profiles showed the Braze and Mailchimp simulators
spending about 90% of their time in the pure-Python ``jsonschema`` walk, so
the simulator, not the client, set the pace of a benchmark.

``FastValidator`` asks ``jsonschema_rs`` (a Rust implementation of the same
drafts) whether the instance is valid; only when it is not does it run the
``jsonschema`` validator, whose errors (paths, messages, validator names) the
contract code turns into the ESP's answers. So answers to invalid requests are
exactly what they were, and a valid request costs microseconds. Formats are
annotations only, as in ``jsonschema`` without a format checker, unless a
``format_checker`` is given: then the compiled validator calls that checker
for each formatted string, so the same formats are checked the same way (the
OpenAPI contracts check ``date-time`` and ``date``; the Klaviyo simulator's
bulk import bodies of 10,000 profiles were checked by ``jsonschema`` alone).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

import jsonschema
import jsonschema_rs


class FastValidator:
    """``iter_errors`` and ``is_valid`` of ``jsonschema.Draft202012Validator``, with a compiled pre-check.

    ``python``: the ``jsonschema`` validator to mirror (default: one without a format checker).
    ``format_checker``: the formats that validator checks; the compiled validator asks the same checker
    (a Python call per formatted string), so a format it ignores is ignored here too.
    """

    def __init__(self, schema: Mapping[str, Any], *, python: jsonschema.protocols.Validator | None = None,
                 format_checker: jsonschema.FormatChecker | None = None) -> None:
        self.schema = schema
        self.python = python or jsonschema.Draft202012Validator(schema)
        if format_checker is None:
            self._compiled = jsonschema_rs.Draft202012Validator(dict(schema), validate_formats=False)
        else:
            formats = {name: partial(_conforms, format_checker, name) for name in format_names(schema)}
            self._compiled = jsonschema_rs.Draft202012Validator(dict(schema), formats=formats, validate_formats=True)

    def is_valid(self, instance: Any) -> bool:
        return bool(self._compiled.is_valid(instance))

    def iter_errors(self, instance: Any) -> Iterator[jsonschema.ValidationError]:
        if self._compiled.is_valid(instance):
            return iter(())
        return self.python.iter_errors(instance)


def _conforms(checker: jsonschema.FormatChecker, name: str, value: Any) -> bool:
    return bool(checker.conforms(value, name))


def format_names(schema: Any) -> set[str]:
    """Every ``format`` a schema names, at any depth."""
    found: set[str] = set()
    if isinstance(schema, dict):
        if isinstance(schema.get("format"), str):
            found.add(schema["format"])
        for value in schema.values():
            found |= format_names(value)
    elif isinstance(schema, list):
        for item in schema:
            found |= format_names(item)
    return found


def has_ref(schema: Any) -> bool:
    """Whether a ``$ref`` is left anywhere in the schema (the compiled validator is given no registry)."""
    if isinstance(schema, dict):
        return "$ref" in schema or any(has_ref(value) for value in schema.values())
    if isinstance(schema, list):
        return any(has_ref(item) for item in schema)
    return False
