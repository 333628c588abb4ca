"""The Braze API contract: check a request to /users/track or /users/delete.

Braze publishes no OpenAPI description, so ``contracts/braze/braze.schema.json``
is a compact JSON Schema written from shared/docs/ESP_CONTRACTS.md and the
Braze REST API reference (``$BRAZE_CONTRACT_DIR`` overrides the directory).
Usable by any client, not only the simulator::

    from activation.contracts.braze import validate_request
    assert validate_request("POST", "/users/track", headers, body) == []

What is checked, in the order the simulator answers them:

* path and method (404, 405);
* ``Authorization: Bearer <REST API key>`` (401);
* ``Content-Type: application/json`` (415);
* the body is JSON (400) and its envelope follows the schema (400, *fatal*:
  Braze processes nothing): ``attributes`` / ``events`` / ``purchases``
  arrays, at least one of them not empty, nothing else but ``partner``;
  for /users/delete exactly one identifier type;
* counts the reference states in prose (``x-limits``): at most 75 objects per
  array, or in total (``limit_mode="total"``, newer accounts), or fewer
  (``objects_per_request``: 50 on MAU plans); at most 50 ids per delete (400);
* every object of /users/track against its object schema (*not fatal*: Braze
  processes the other objects and answers 201 with
  ``errors: [{"type", "input_array", "index"}]``): one of external_id,
  user_alias, braze_id, email or phone, a valid email, ``email_subscribe``
  in opted_in | subscribed | unsubscribed, an event's ``name`` and ISO 8601
  ``time``, array operations ``{"add": [...], "remove": [...]}`` of lists,
  ``{"inc": n}`` of an integer.

Library: ``jsonschema`` (Draft 2020-12), as for the Klaviyo contract.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema

from activation.contracts.fastcheck import FastValidator
from activation.errors import ConfigError

ENV_VAR = "BRAZE_CONTRACT_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_COPY = REPO_ROOT / "contracts" / "braze"
SCHEMA_FILE = "braze.schema.json"
AUTH_SCHEME = "Bearer"
ARRAYS = ("attributes", "events", "purchases")
IDENTIFIERS = ("external_id", "user_alias", "braze_id", "email", "phone")
LIMIT_MODES = ("per_array", "total")
OBJECT_SCHEMAS = {"attributes": "attributes_object", "events": "event_object", "purchases": "purchase_object"}
MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str
    request: str | None  # "#/$defs/..." of the body schema
    success: int


@dataclass(frozen=True)
class ObjectError:
    """A non-fatal error: one object of a /users/track array, by its index in that array."""

    input_array: str
    index: int
    type: str  # the message, as Braze puts it in ``type``

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "input_array": self.input_array, "index": self.index}


@dataclass
class RequestCheck:
    """The outcome of checking one request: fatal problems (status, messages) and object errors."""

    operation: Operation | None
    status: int = 200
    problems: list[str] = field(default_factory=list)
    object_errors: list[ObjectError] = field(default_factory=list)
    body: Any = None

    @property
    def fatal(self) -> bool:
        return bool(self.problems)

    def fail(self, status: int, message: str) -> RequestCheck:
        if not self.problems:
            self.status = status
        self.problems.append(message[:MESSAGE_CHARS])
        return self


class BrazeContract:
    """The schema file plus the rules it states in ``x-`` members."""

    def __init__(self, document: Mapping[str, Any], source: Path | None = None) -> None:
        self.document = document
        self.source = source
        self.defs: dict[str, Any] = dict(document["$defs"])
        self.operations = {
            name: Operation(name, spec["method"], spec["path"], spec.get("request"), int(spec["success"]))
            for name, spec in document["x-operations"].items()
        }
        self.limits = {name: int(spec["value"]) for name, spec in document["x-limits"].items()}
        self._validators: dict[str, FastValidator] = {}

    # -- facts -------------------------------------------------------------------------------
    def rate_limits(self) -> dict[str, str]:
        """operation -> its fixed window, e.g. ``{"users_track": "3000/3s"}``."""
        return {name: spec["window"] for name, spec in self.document.get("x-rate-limits", {}).items()}

    def validator(self, definition: str) -> FastValidator:
        """A validator of ``#/$defs/<definition>`` (local ``$ref``s resolved)."""
        found = self._validators.get(definition)
        if found is None:
            schema = {"$ref": f"#/$defs/{definition}", "$defs": self.defs}
            found = self._validators[definition] = FastValidator(schema)
        return found

    # -- checks ------------------------------------------------------------------------------
    def match(self, method: str, path: str) -> tuple[Operation | None, int, str]:
        """The operation at ``path``; else (None, 404 or 405, message)."""
        path = urlsplit(path).path.rstrip("/") or "/"
        for operation in self.operations.values():
            if operation.path == path:
                if method.upper() != operation.method:
                    return None, 405, f"{path} accepts {operation.method} only, not {method.upper()}"
                return operation, 200, ""
        return None, 404, f"{path} is not a Braze REST endpoint this contract knows"

    @staticmethod
    def check_auth(headers: Mapping[str, str], api_key: str | None = None) -> str | None:
        """A 401 message unless ``Authorization: Bearer <key>`` (and the key is ``api_key`` when given)."""
        value = _header(headers, "authorization")
        if value is None:
            return "Missing Authorization header: send 'Authorization: Bearer <REST API key>'."
        scheme, _, key = value.strip().partition(" ")
        if scheme != AUTH_SCHEME or not key.strip():
            return "Invalid API key: the Authorization header must read 'Bearer <REST API key>'."
        if api_key is not None and key.strip() != api_key:
            return "Invalid API key."
        return None

    def check_request(
        self,
        operation: Operation,
        headers: Mapping[str, str],
        body: Any,
        *,
        objects_per_request: int | None = None,
        limit_mode: str = "per_array",
    ) -> RequestCheck:
        """Everything after matching and authentication: media type, JSON, envelope, counts, objects."""
        check = RequestCheck(operation)
        if operation.request is None:
            return check
        media = (_header(headers, "content-type") or "").split(";")[0].strip().lower()
        if media != "application/json":
            return check.fail(415, f"Content-Type must be application/json (got {media or 'none'!r}).")
        try:
            check.body = body if isinstance(body, (dict, list)) else json.loads(body or b"")
        except ValueError as error:
            return check.fail(400, f"The request body is not valid JSON: {error}.")
        definition = operation.request.rsplit("/", 1)[-1]
        for error in sorted(self.validator(definition).iter_errors(check.body), key=lambda e: list(e.absolute_path)):
            check.fail(400, self._envelope_message(operation, error))
        if check.fatal:
            return check
        if operation.name == "users_track":
            self._track_counts(check, objects_per_request, limit_mode)
            if not check.fatal:
                self._track_objects(check)
        elif operation.name == "users_delete":
            most = self.limits["delete_ids_per_request"]
            (kind, ids), = check.body.items()
            if len(ids) > most:
                check.fail(400, f"{len(ids)} {kind}; /users/delete accepts at most {most} ids per request.")
        return check

    def check(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: Any,
        *,
        api_key: str | None = None,
        objects_per_request: int | None = None,
        limit_mode: str = "per_array",
    ) -> RequestCheck:
        """Match, authenticate and check one request (``path`` may be a full URL)."""
        operation, status, message = self.match(method, path)
        if operation is None:
            return RequestCheck(None).fail(status, message)
        problem = self.check_auth(headers, api_key)
        check = self.check_request(
            operation, headers, body, objects_per_request=objects_per_request, limit_mode=limit_mode
        )
        if problem is not None:
            check.status = 401
            check.problems.insert(0, problem)
        return check

    # -- internals ---------------------------------------------------------------------------
    def _envelope_message(self, operation: Operation, error: jsonschema.ValidationError) -> str:
        where = _pointer(error.absolute_path)
        if operation.name == "users_track" and error.validator == "anyOf" and not error.absolute_path:
            return "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."
        if operation.name == "users_delete" and error.validator in ("minProperties", "maxProperties"):
            return ("Give exactly one of external_ids, user_aliases, braze_ids, email_addresses or phone_numbers "
                    "per request.")
        if error.validator == "additionalProperties" and not error.absolute_path:
            return f"{error.message} (known fields: {', '.join(error.schema.get('properties', {}))})"
        if error.validator == "not" and "prioritization" in where:
            return f"{where}: 'identified' and 'unidentified' exclude each other in a prioritization."
        return f"{where}: {error.message}"

    def _track_counts(self, check: RequestCheck, objects_per_request: int | None, limit_mode: str) -> None:
        if limit_mode not in LIMIT_MODES:
            raise ConfigError(f"limit_mode must be one of {', '.join(LIMIT_MODES)}, not {limit_mode!r}")
        most = objects_per_request or self.limits["objects_per_array"]
        counts = {name: len(check.body.get(name) or []) for name in ARRAYS}
        if limit_mode == "total" and sum(counts.values()) > most:
            check.fail(400, f"{sum(counts.values())} objects in total; this account accepts at most {most} "
                            "attributes, events and purchases per request.")
        for name, count in counts.items():
            if count > most:
                check.fail(400, f"'{name}' holds {count} objects; at most {most} per request.")

    def _track_objects(self, check: RequestCheck) -> None:
        for name in ARRAYS:
            validator = self.validator(OBJECT_SCHEMAS[name])
            for index, item in enumerate(check.body.get(name) or []):
                message = self._object_problem(name, item, validator)
                if message:
                    check.object_errors.append(ObjectError(name, index, message[:MESSAGE_CHARS]))

    def _object_problem(self, array: str, item: Any, validator: FastValidator) -> str | None:
        if not isinstance(item, dict):
            return f"Each entry of '{array}' must be an object."
        given = [key for key in IDENTIFIERS if item.get(key) is not None]
        if not given:
            return "One of 'external_id', 'user_alias', 'braze_id', 'email' or 'phone' is required."
        errors = sorted(validator.iter_errors(item), key=lambda e: list(e.absolute_path))
        if errors:
            error = errors[0]
            where = _pointer(error.absolute_path)
            if where.startswith("/email") or where.startswith("/time") or where.startswith("/email_subscribe"):
                label = {"/email": "Invalid email address", "/time": "'time' must be an ISO 8601 time",
                         "/email_subscribe": "'email_subscribe' must be opted_in, subscribed or unsubscribed"}
                return f"{label[where]}: {error.instance!r}."
            if error.validator == "required":
                return f"{error.message} in this {array[:-1]} object."
            return f"{where or '/'}: {error.message}"
        if array == "attributes":
            for key, value in item.items():
                problem = _operation_problem(key, value)
                if problem:
                    return problem
        return None


def _operation_problem(key: str, value: Any) -> str | None:
    """Array and increment operations in an attributes object."""
    if not isinstance(value, dict) or not value:
        return None
    keys = set(value)
    if keys <= {"add", "remove"}:
        for verb in sorted(keys):
            if not isinstance(value[verb], list):
                return f"'{key}': '{verb}' takes a list of values."
    elif keys == {"inc"} and (not isinstance(value["inc"], int) or isinstance(value["inc"], bool)):
        return f"'{key}': 'inc' takes an integer."
    return None


def contract_dir() -> Path:
    """``$BRAZE_CONTRACT_DIR`` when set, else contracts/braze/ in this repository."""
    override = os.environ.get(ENV_VAR)
    path = Path(override) if override else REPO_COPY
    if not (path / SCHEMA_FILE).is_file():
        where = f"${ENV_VAR}={override}" if override else str(path)
        raise ConfigError(f"{where} holds no {SCHEMA_FILE}; restore contracts/braze/ from git or unset ${ENV_VAR}")
    return path


def load_contract(directory: Path | None = None) -> BrazeContract:
    """The parsed contract (cached per directory)."""
    return _load(directory or contract_dir())


@lru_cache(maxsize=4)
def _load(directory: Path) -> BrazeContract:
    path = directory / SCHEMA_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read the Braze contract {path}: {error}") from None
    return BrazeContract(document, path)


def validate_request(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: Any,
    *,
    objects_per_request: int | None = None,
    limit_mode: str = "per_array",
) -> list[str]:
    """Every problem of one request (fatal ones first, then object errors); empty: valid.

    ``body``: the bytes or text sent, or the JSON value before encoding.
    """
    check = load_contract().check(
        method, path, headers, body, objects_per_request=objects_per_request, limit_mode=limit_mode
    )
    return check.problems + [f"{e.input_array}[{e.index}]: {e.type}" for e in check.object_errors]


def _pointer(path: Any) -> str:
    return "/" + "/".join(str(part) for part in path) if path else ""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None

