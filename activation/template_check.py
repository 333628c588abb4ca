"""Static check of the email templates against the export contract.

Without rendering anything, for every template file an email uses (its three
parts and every layout or partial they extend, include or import, recursively):

* every variable it reads must be a column of the export contract;
* every attribute read from an object of a json list column (``item.product_name``
  inside ``{% for item in cart_items %}``, ``cart_items[0].product_name``, or a
  filter's ``attribute=``) must be one of that column's documented ``meta.fields``;
* an attribute the check cannot trace back to a contract column (read from a
  ``set`` variable, a macro argument, ...) is reported too, so nothing slips past
  unchecked: write such templates with a ``for`` loop over the column instead.

Names Jinja provides itself (``loop`` inside a for loop) are allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import jinja2
from jinja2 import meta, nodes

from activation.contract import ExportContract
from activation.templates import PARTS, list_emails, template_file

# Filters that keep a list's items as they are, so `for x in items|sort(...)` still iterates items.
_ITEM_PRESERVING_FILTERS = frozenset(
    {"sort", "reverse", "unique", "list", "selectattr", "rejectattr", "select", "reject"}
)
# Filters whose first positional argument (or `attribute=`) names an attribute of the items.
_ATTRIBUTE_FILTERS = frozenset({"sort", "unique", "sum", "min", "max", "map", "groupby", "selectattr", "rejectattr"})
_POSITIONAL_ATTRIBUTE_FILTERS = frozenset({"groupby", "selectattr", "rejectattr"})


@dataclass(frozen=True)
class TemplateProblem:
    """One thing a template does that the export contract does not allow."""

    template: str
    message: str
    used_by: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        users = f" (used by {', '.join(self.used_by)})" if self.used_by else ""
        return f"{self.template}{users}: {self.message}"


def check_templates(
    environment: jinja2.Environment,
    contract: ExportContract,
    emails: Iterable[str] | None = None,
) -> list[TemplateProblem]:
    """Every problem in the templates of `emails` (default: all emails in the environment)."""
    problems: list[TemplateProblem] = []
    users: dict[str, set[str]] = {}
    for email in emails if emails is not None else list_emails(environment):
        for part in PARTS:
            root = template_file(email, part)
            for name, missing in _closure(environment, root):
                if missing:
                    problems.append(TemplateProblem(name, "template not found", (email,)))
                else:
                    users.setdefault(name, set()).add(email)
    for name in sorted(users):
        used_by = tuple(sorted(users[name]))
        problems += [TemplateProblem(name, message, used_by) for message in _file_problems(environment, name, contract)]
    return problems


def template_variables(environment: jinja2.Environment, name: str) -> set[str]:
    """The variables template `name` and everything it extends, includes or imports read."""
    found: set[str] = set()
    for file, missing in _closure(environment, name):
        if not missing:
            found |= meta.find_undeclared_variables(_parse(environment, file))
    return found


def _closure(environment: jinja2.Environment, root: str) -> Iterator[tuple[str, bool]]:
    """(template, missing) for `root` and every template it references, recursively, each once."""
    seen: set[str] = set()
    pending = [root]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            ast = _parse(environment, name)
        except jinja2.TemplateNotFound:
            yield name, True
            continue
        except jinja2.TemplateSyntaxError:
            yield name, False  # reported by _file_problems
            continue
        yield name, False
        pending += [ref for ref in meta.find_referenced_templates(ast) if ref is not None]


def _parse(environment: jinja2.Environment, name: str) -> nodes.Template:
    assert environment.loader is not None
    source, filename, _ = environment.loader.get_source(environment, name)
    return environment.parse(source, name, filename)


def _file_problems(environment: jinja2.Environment, name: str, contract: ExportContract) -> list[str]:
    try:
        ast = _parse(environment, name)
    except jinja2.TemplateSyntaxError as error:
        return [f"line {error.lineno}: syntax error: {error.message}"]
    problems = [
        f"unknown variable {variable!r}: not a column of {contract.table} ({contract.path.name})"
        for variable in sorted(meta.find_undeclared_variables(ast))
        if variable not in contract.names
    ]
    if any(ref is None for ref in meta.find_referenced_templates(ast)):
        problems.append("extends/includes/imports a template by a computed name, which cannot be checked")
    problems += _AttributeChecker(contract).check(ast)
    return problems


class _AttributeChecker:
    """Walks a template's syntax tree, tracking loop variables that iterate over json list columns."""

    def __init__(self, contract: ExportContract) -> None:
        self.lists = contract.list_fields()
        self.problems: list[str] = []

    def check(self, ast: nodes.Template) -> list[str]:
        self._visit(ast, {})
        return self.problems

    def _visit(self, node: nodes.Node, scope: dict[str, str]) -> None:
        """`scope` maps a loop variable to the list column it iterates over."""
        if isinstance(node, nodes.For):
            self._visit(node.iter, scope)
            inner = {name: column for name, column in scope.items() if name not in _target_names(node.target)}
            source = self._list_source(node.iter, scope)
            if source is not None and isinstance(node.target, nodes.Name):
                inner[node.target.name] = source
            for child in [*node.body, *([node.test] if node.test else [])]:
                self._visit(child, inner)
            for child in node.else_:
                self._visit(child, scope)
            return
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            self._check_access(node, scope)
        if isinstance(node, nodes.Filter):
            self._check_filter(node, scope)
        for child in node.iter_child_nodes():
            self._visit(child, scope)

    def _list_source(self, expression: nodes.Node, scope: dict[str, str]) -> str | None:
        """The json list column `expression` iterates over, if it is one (possibly through sort, reverse, ...)."""
        if isinstance(expression, nodes.Name):
            return expression.name if expression.name in self.lists and expression.name not in scope else None
        if isinstance(expression, nodes.Filter) and expression.name in _ITEM_PRESERVING_FILTERS:
            return self._list_source(expression.node, scope) if expression.node is not None else None
        if isinstance(expression, nodes.Getitem) and isinstance(expression.arg, nodes.Slice):
            return self._list_source(expression.node, scope)  # items[:2]
        return None

    def _check_access(self, node: nodes.Getattr | nodes.Getitem, scope: dict[str, str]) -> None:
        base = node.node
        key = _constant_key(node)
        if isinstance(base, nodes.Name) and base.name in scope:
            self._check_field(scope[base.name], key, node.lineno, _describe_access(node))
            return
        if isinstance(base, nodes.Name) and base.name == "loop":
            return
        if isinstance(node, nodes.Getitem) and self._list_source(base, scope) is not None:
            if isinstance(key, int) or isinstance(node.arg, nodes.Slice):
                return  # cart_items[0] is an item (its attributes are checked one level up); [:2] a list
        if isinstance(base, nodes.Getitem) and isinstance(_constant_key(base), int):
            column = self._list_source(base.node, scope)
            if column is not None:
                self._check_field(column, key, node.lineno, f"{column}[{_constant_key(base)}].{key}")
                return
        self.problems.append(
            f"line {node.lineno}: cannot check {_describe_access(node)} against the contract; "
            "read list items through `{% for item in <json column> %}` or `<json column>[0]`"
        )

    def _check_field(self, column: str, key: object, line: int, usage: str) -> None:
        fields = self.lists[column]
        if not isinstance(key, str):
            self.problems.append(f"line {line}: {usage} reads items of {column} with a computed key; use a name")
        elif fields is None:
            self.problems.append(f"line {line}: {usage} cannot be checked: {column} has no meta.fields in the contract")
        elif key not in fields:
            self.problems.append(
                f"line {line}: unknown field {key!r} on items of {column} ({usage}); "
                f"documented fields (meta.fields): {', '.join(fields)}"
            )

    def _check_filter(self, node: nodes.Filter, scope: dict[str, str]) -> None:
        if node.name not in _ATTRIBUTE_FILTERS or node.node is None:
            return
        column = self._list_source(node.node, scope)
        if column is None:
            return
        attributes = [kwarg.value for kwarg in node.kwargs if kwarg.key == "attribute"]
        if node.name in _POSITIONAL_ATTRIBUTE_FILTERS and node.args:
            attributes.append(node.args[0])
        for attribute in attributes:
            if isinstance(attribute, nodes.Const) and isinstance(attribute.value, str):
                usage = f"{column}|{node.name}({attribute.value!r})"
                self._check_field(column, attribute.value.split(".")[0], node.lineno, usage)
            else:
                self._check_field(column, None, node.lineno, f"{column}|{node.name}(...)")


def _target_names(target: nodes.Node) -> set[str]:
    return {name.name for name in target.find_all(nodes.Name)} | (
        {target.name} if isinstance(target, nodes.Name) else set()
    )


def _constant_key(node: nodes.Node) -> object:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return node.arg.value
    return None


def _describe_access(node: nodes.Getattr | nodes.Getitem) -> str:
    base = node.node
    label = base.name if isinstance(base, nodes.Name) else type(base).__name__.lower()
    key = _constant_key(node)
    return f"{label}.{key}" if isinstance(key, str) else f"{label}[...]"
