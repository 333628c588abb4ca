"""The Mailchimp Marketing API contract: check a request against ``contracts/mailchimp/marketing-3.0.json``.

Mailchimp publishes no redistributable OpenAPI file, so the contract is a
compact, hand-written JSON Schema per operation (request body, query
parameters), written from ``shared/docs/ESP_CONTRACTS.md``. Usable by any
code that talks to Mailchimp, not only the simulator::

    from activation.contracts.mailchimp import validate_request
    problems = validate_request("POST", "https://us6.api.mailchimp.com/3.0/lists/abc", headers, body)
    assert problems == [], problems

Where the contract comes from (first that exists): ``$MAILCHIMP_CONTRACT_DIR``;
``contracts/mailchimp/`` in this repository; ``../shared/contracts/mailchimp``.

What is checked, in the order the simulator answers them: the path (below
``/3.0``) and method match an operation (404 / 405); HTTP Basic auth with a
non-empty key as the password (401); declared query parameters and their
types (400); the JSON body against the operation's schema with ``jsonschema``
(Draft 2020-12), which also carries the documented counts (500 members per
batch, 500 adds and 500 removals per static-segment call) (400). Problems name
the offending field the way Mailchimp's ``errors: [{field, message}]`` does
(``members.3.email_address``).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema

from activation.contracts.fastcheck import FastValidator
from activation.contracts.openapi import Problem
from activation.errors import ConfigError

ENV_VAR = "MAILCHIMP_CONTRACT_DIR"
CONTRACT_FILE = "marketing-3.0.json"
REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_COPY = REPO_ROOT / "contracts" / "mailchimp"
SHARED_COPY = REPO_ROOT.parent / "shared" / "contracts" / "mailchimp"
BASE_PATH = "/3.0"


@dataclass(frozen=True)
class Operation:
    """One operation of the contract: how to recognise it and how to check it."""

    name: str
    method: str
    path: str
    pattern: re.Pattern[str]
    success: int
    query: dict[str, dict[str, Any]]
    body: dict[str, Any] | None
    source: str = ""


@dataclass
class RequestCheck:
    """The outcome of checking one request: the operation, its parameters, the parsed body, the problems."""

    operation: Operation | None
    path_params: dict[str, str] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def status(self) -> int:
        """The status the first problem deserves (400 when there is none, which callers do not ask)."""
        return self.problems[0].status if self.problems else 400


class MailchimpContract:
    """The operations of ``marketing-3.0.json`` with compiled validators."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.defs = document.get("$defs", {})
        self.max_connections = int(document.get("max_connections", 10))
        self.operations: dict[str, Operation] = {}
        for name, spec in document["operations"].items():
            regex = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(spec["path"])) + "$"
            self.operations[name] = Operation(
                name, spec["method"], spec["path"], re.compile(regex), int(spec["success"]),
                dict(spec.get("query") or {}), spec.get("body"), spec.get("source", ""),
            )
        self._validators = {
            name: FastValidator({**op.body, "$defs": self.defs})
            for name, op in self.operations.items() if op.body is not None
        }
        self._query_validators = {
            (name, param): jsonschema.Draft202012Validator({**schema, "$defs": self.defs})
            for name, op in self.operations.items() for param, schema in op.query.items()
        }
        self._responses = {
            name: jsonschema.Draft202012Validator({**schema, "$defs": self.defs})
            for name, schema in (document.get("responses") or {}).items()
        }

    # -- limits the destination reads --------------------------------------------------------
    def max_items(self, operation: str, array: str) -> int:
        """``maxItems`` of a top-level array of an operation's body (e.g. batch_subscribe, members)."""
        body = self.operations[operation].body or {}
        return int(body["properties"][array]["maxItems"])

    # -- matching ----------------------------------------------------------------------------
    def match(self, method: str, path: str) -> tuple[Operation | None, dict[str, str], Problem | None]:
        """The operation at ``path`` (with the ``/3.0`` prefix) for ``method``, or a 404/405 problem."""
        if not (path == BASE_PATH or path.startswith(BASE_PATH + "/")):
            return None, {}, Problem(404, "Resource Not Found",
                                     f"The API lives below {BASE_PATH}/ (e.g. {BASE_PATH}/lists/{{list_id}}).")
        relative = path[len(BASE_PATH):].rstrip("/") or "/"
        allowed = []
        for operation in self.operations.values():
            found = operation.pattern.match(relative)
            if found is None:
                continue
            if operation.method == method.upper():
                return operation, found.groupdict(), None
            allowed.append(operation.method)
        if allowed:
            return None, {}, Problem(405, "Method Not Allowed",
                                     f"{method.upper()} is not allowed on {path}; allowed: {', '.join(sorted(allowed))}.")
        return None, {}, Problem(404, "Resource Not Found", "The requested resource could not be found.")

    @staticmethod
    def check_auth(headers: Mapping[str, str], api_key: str | None = None) -> Problem | None:
        """HTTP Basic with the API key as password; None when acceptable."""
        value = _header(headers, "authorization")
        if not value:
            return Problem(401, "API Key Missing", "Your request did not include an API key.")
        scheme, _, credential = value.strip().partition(" ")
        if scheme.lower() != "basic":
            return Problem(401, "API Key Invalid", "Use HTTP Basic auth with any user name and the API key as password.")
        try:
            _, _, key = base64.b64decode(credential.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return Problem(401, "API Key Invalid", "The Basic credentials are not valid base64 of 'user:key'.")
        if not key or (api_key is not None and key != api_key):
            return Problem(401, "API Key Invalid", "Your API key may be invalid, or you've attempted to access the "
                                                   "wrong datacenter.")
        return None

    # -- request -----------------------------------------------------------------------------
    def check_request(self, operation: Operation, path_params: Mapping[str, str], query: Mapping[str, str],
                      body: bytes | None) -> RequestCheck:
        check = RequestCheck(operation, dict(path_params))
        for name, raw in query.items():
            schema = operation.query.get(name)
            if schema is None:
                declared = ", ".join(sorted(operation.query)) or "none"
                check.problems.append(Problem(400, "Invalid Resource", f"unknown query parameter (declared: {declared})",
                                              parameter=name))
                continue
            value = _convert(raw, schema)
            errors = list(self._query_validators[(operation.name, name)].iter_errors(value))
            if errors:
                check.problems.append(Problem(400, "Invalid Resource", errors[0].message, parameter=name))
            else:
                check.query[name] = value
        if operation.body is None:
            return check
        if not body:
            check.problems.append(Problem(400, "Invalid Resource", "The request body is missing.", pointer=""))
            return check
        try:
            check.body = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            check.problems.append(Problem(400, "JSON Parse Exception",
                                          f"We encountered an unspecified JSON parsing error: {error}", pointer=""))
            return check
        validator = self._validators[operation.name]
        for error in sorted(validator.iter_errors(check.body), key=lambda e: list(e.absolute_path))[:50]:
            check.problems.append(Problem(400, "Invalid Resource", error.message,
                                          pointer=".".join(str(part) for part in error.absolute_path)))
        return check

    def response_problems(self, name: str, body: Any) -> list[str]:
        """Problems of an answer against the contract's response shapes (``problem``, ``batch_subscribe``, ...)."""
        validator = self._responses[name]
        return [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(body)]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _convert(raw: str, schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw
    if kind == "boolean":
        return {"true": True, "false": False}.get(str(raw).lower(), raw)
    return raw


def contract_dir() -> Path:
    """The directory the contract is read from (see the module docstring)."""
    override = os.environ.get(ENV_VAR)
    candidates = [Path(override)] if override else [REPO_COPY, SHARED_COPY]
    for candidate in candidates:
        if (candidate / CONTRACT_FILE).exists():
            return candidate
    where = ", ".join(str(c) for c in candidates)
    raise ConfigError(f"the Mailchimp contract ({CONTRACT_FILE}) is not in {where}; restore contracts/mailchimp/ "
                      f"from the repository or set ${ENV_VAR}")


@lru_cache(maxsize=4)
def _load(path: str) -> MailchimpContract:
    return MailchimpContract(json.loads(Path(path).read_text()))


def load_contract() -> MailchimpContract:
    """The contract (cached per directory)."""
    return _load(str(contract_dir() / CONTRACT_FILE))


def validate_request(method: str, url: str, headers: Mapping[str, str], body: bytes | str | None = None,
                     api_key: str | None = None) -> list[str]:
    """Every problem of one request as text (empty: valid). ``url`` may be absolute or a path with a query."""
    contract = load_contract()
    parts = urlsplit(url)
    operation, params, problem = contract.match(method, parts.path)
    if problem is not None:
        return [str(problem)]
    assert operation is not None
    auth = contract.check_auth(headers, api_key)
    if auth is not None:
        return [str(auth)]
    raw = body.encode() if isinstance(body, str) else body
    check = contract.check_request(operation, params, dict(parse_qsl(parts.query)), raw)
    return [str(p) for p in check.problems]
