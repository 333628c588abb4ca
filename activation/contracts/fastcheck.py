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
annotations only, as in ``jsonschema`` without a format checker.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
import jsonschema_rs


class FastValidator:
    """``iter_errors`` and ``is_valid`` of ``jsonschema.Draft202012Validator``, with a compiled pre-check."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self.python = jsonschema.Draft202012Validator(schema)
        self._compiled = jsonschema_rs.Draft202012Validator(dict(schema), validate_formats=False)

    def is_valid(self, instance: Any) -> bool:
        return bool(self._compiled.is_valid(instance))

    def iter_errors(self, instance: Any) -> Iterator[jsonschema.ValidationError]:
        if self._compiled.is_valid(instance):
            return iter(())
        return self.python.iter_errors(instance)
