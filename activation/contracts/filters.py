"""JSON:API ``filter`` expressions as Klaviyo writes them, parsed and evaluated.

Syntax (Klaviyo's "filtering" guide): ``operator(field,value)``, combined with
``and(...)``, ``or(...)``, ``not(...)``; several top-level expressions
separated by commas are joined with ``and``. Values are double- or single-quoted
strings, numbers, ``true``/``false``/``null``, unquoted ISO 8601 date-times, or
lists ``[v1,v2]`` (for ``any``).

The contract states which fields and operators each operation allows only in
the ``filter`` parameter's description ("Allowed field(s)/operator(s): `email`:
`any`, `equals` ..."); :func:`allowed_filters` reads that table, and
:func:`check_filter` compares a parsed filter with it.

Examples::

    equals(email,"ada@example.com")
    any(email,["ada@example.com","bob@example.com"])
    and(equals(status,"complete"),greater-than(created,2026-01-01T00:00:00Z))
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

COMBINATORS = ("and", "or", "not")
COMPARISONS = (
    "equals", "any", "has", "contains", "contains-any", "contains-all", "starts-with", "ends-with",
    "greater-than", "greater-or-equal", "less-than", "less-or-equal",
)


class FilterError(ValueError):
    """The filter text does not parse, or uses a field or operator the operation does not allow."""


@dataclass(frozen=True)
class Comparison:
    operator: str
    field: str
    value: Any


@dataclass(frozen=True)
class Combination:
    operator: str  # and, or, not
    children: tuple[Expression, ...]


Expression = Comparison | Combination


def parse_filter(text: str) -> Expression:
    """Parse ``text``; raises :class:`FilterError` with the position of the first problem."""
    parser = _Parser(text)
    expressions = [parser.expression()]
    while parser.accept(","):
        expressions.append(parser.expression())
    parser.end()
    return expressions[0] if len(expressions) == 1 else Combination("and", tuple(expressions))


def comparisons(expression: Expression) -> list[Comparison]:
    """Every comparison in ``expression``, depth first."""
    if isinstance(expression, Comparison):
        return [expression]
    return [found for child in expression.children for found in comparisons(child)]


def allowed_filters(description: str) -> dict[str, set[str]]:
    """Field -> allowed operators, from a ``filter`` parameter's description in the contract."""
    _, _, table = description.partition("Allowed field(s)/operator(s):")
    allowed: dict[str, set[str]] = {}
    for field, operators in re.findall(r"`([^`]+)`:\s*((?:`[^`]+`(?:,\s*)?)+)", table):
        allowed[field] = set(re.findall(r"`([^`]+)`", operators))
    return allowed


def check_filter(expression: Expression, allowed: dict[str, set[str]]) -> list[str]:
    """Problems of ``expression`` against the allowed table (empty: allowed)."""
    problems = []
    for comparison in comparisons(expression):
        operators = allowed.get(comparison.field)
        if operators is None:
            problems.append(f"filtering on '{comparison.field}' is not supported; fields: {', '.join(sorted(allowed))}")
        elif comparison.operator not in operators:
            problems.append(
                f"operator '{comparison.operator}' is not allowed on '{comparison.field}'; "
                f"allowed: {', '.join(sorted(operators))}"
            )
        elif comparison.operator == "any" and not isinstance(comparison.value, list):
            problems.append(f"any({comparison.field},...) takes a list: any({comparison.field},[\"a\",\"b\"])")
    return problems


def evaluate(
    expression: Expression, value_of: Callable[[str], Any], casefold: frozenset[str] = frozenset({"email"})
) -> bool:
    """Whether a record matches; ``value_of(field)`` returns the record's value of a field.

    String comparisons on the fields in ``casefold`` ignore case (email addresses).
    """
    if isinstance(expression, Combination):
        results = (evaluate(child, value_of, casefold) for child in expression.children)
        if expression.operator == "and":
            return all(results)
        if expression.operator == "or":
            return any(results)
        return not next(results)
    actual = value_of(expression.field)
    wanted = expression.value
    operator = expression.operator
    if expression.field in casefold:
        actual = actual.lower() if isinstance(actual, str) else actual
        wanted = [w.lower() if isinstance(w, str) else w for w in wanted] if isinstance(wanted, list) else (
            wanted.lower() if isinstance(wanted, str) else wanted)
    if operator == "equals":
        return _same(actual, wanted)
    if operator == "any":
        return any(_same(actual, item) for item in wanted)
    if operator == "has":
        return actual is not None
    if actual is None:
        return False
    if operator == "contains":
        return wanted in actual
    if operator == "contains-any":
        return any(item in actual for item in wanted)
    if operator == "contains-all":
        return all(item in actual for item in wanted)
    if operator == "starts-with":
        return str(actual).startswith(str(wanted))
    if operator == "ends-with":
        return str(actual).endswith(str(wanted))
    left, right = _comparable(actual), _comparable(wanted)
    try:
        return {
            "greater-than": left > right,
            "greater-or-equal": left >= right,
            "less-than": left < right,
            "less-or-equal": left <= right,
        }[operator]
    except TypeError:
        return False


def _same(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, datetime) or isinstance(actual, datetime):
        return bool(_comparable(actual) == _comparable(wanted))
    return bool(actual == wanted)


def _comparable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
        except ValueError:
            return value
    return value


class _Parser:
    _TOKEN = re.compile(r"\s*(?:(?P<punct>[(),\[\]])|(?P<string>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
                        r"|(?P<word>[^\s(),\[\]\"']+))")

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        position = 0
        while position < len(text):
            match = self._TOKEN.match(text, position)
            if not match or match.end() == position:
                if text[position:].strip() == "":
                    break
                raise FilterError(f"unexpected character at position {position}: {text[position:position + 10]!r}")
            kind = match.lastgroup or "word"
            self.tokens.append((kind, match.group(kind), match.start(kind)))
            position = match.end()
        self.index = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def accept(self, punct: str) -> bool:
        token = self.peek()
        if token and token[0] == "punct" and token[1] == punct:
            self.index += 1
            return True
        return False

    def expect(self, punct: str) -> None:
        if not self.accept(punct):
            token = self.peek()
            found = f"{token[1]!r} at position {token[2]}" if token else "the end"
            raise FilterError(f"expected '{punct}' but found {found} in filter {self.text!r}")

    def end(self) -> None:
        token = self.peek()
        if token:
            raise FilterError(f"unexpected {token[1]!r} at position {token[2]} in filter {self.text!r}")

    def expression(self) -> Expression:
        token = self.peek()
        if not token or token[0] != "word":
            raise FilterError(f"expected an operator such as equals(...) in filter {self.text!r}")
        operator = token[1]
        self.index += 1
        if operator not in COMBINATORS and operator not in COMPARISONS:
            raise FilterError(
                f"unknown operator {operator!r}; known: {', '.join(COMPARISONS + COMBINATORS)}"
            )
        self.expect("(")
        if operator in COMBINATORS:
            children = [self.expression()]
            while self.accept(","):
                children.append(self.expression())
            self.expect(")")
            if operator == "not" and len(children) != 1:
                raise FilterError("not(...) takes exactly one expression")
            return Combination(operator, tuple(children))
        field_token = self.peek()
        if not field_token or field_token[0] != "word":
            raise FilterError(f"{operator}(...) must start with a field name in filter {self.text!r}")
        self.index += 1
        if operator == "has":
            self.expect(")")
            return Comparison(operator, field_token[1], None)
        self.expect(",")
        value = self.value()
        self.expect(")")
        return Comparison(operator, field_token[1], value)

    def value(self) -> Any:
        if self.accept("["):
            items: list[Any] = []
            if self.accept("]"):
                return items
            items.append(self.value())
            while self.accept(","):
                items.append(self.value())
            self.expect("]")
            return items
        token = self.peek()
        if not token or token[0] == "punct":
            raise FilterError(f"expected a value in filter {self.text!r}")
        self.index += 1
        kind, text, _ = token
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "null":
            return None
        for convert in (int, float):
            try:
                return convert(text)
            except ValueError:
                pass
        try:
            return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise FilterError(f"{text!r} is not a value: quote strings, e.g. \"{text}\"") from None
