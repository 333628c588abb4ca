"""The Klaviyo API contract: check a request (or a response) against Klaviyo's OpenAPI files.

Usable by any code that talks to Klaviyo, not only the simulator::

    from activation.contracts.klaviyo import validate_request
    problems = validate_request("POST", "/api/profile-import", headers, body)
    assert problems == [], problems

Where the contract comes from (first that exists):

1. ``$KLAVIYO_CONTRACT_DIR``;
2. ``contracts/klaviyo/`` in this repository (the default; a copy of the files
   below, MIT licensed, so a clean clone needs nothing else);
3. ``../shared/contracts/klaviyo`` beside the repository.

The four category files are Klaviyo's published OpenAPI 3.0 description
(revision 2026-07-15): profiles, lists, events, data_privacy.

What is checked, in the order the simulator answers them:

* the path and method match an operation (else 404 / 405);
* ``Authorization: Klaviyo-API-Key <key>`` (else 401);
* the ``revision`` header is present and is 2026-07-15 (400); with
  ``any_revision=True`` any well-formed revision (``YYYY-MM-DD[.suffix]``) is
  accepted, and the request is still checked against this revision's schemas
  (for clients pinned to an older revision, e.g. drt's default 2024-10-15);
* query parameters: only declared ones, typed (``page[size]`` 1..100, enums of
  ``fields[...]``, ``sort``, ``include``); ``filter`` parsed, and its fields and
  operators checked against the table in the parameter's description (400);
* ``Content-Type`` is a media type of the request body (415); Klaviyo also
  accepts ``application/json``, so the simulator does too, while
  :func:`validate_request` by default holds a client to the declared
  ``application/vnd.api+json``;
* the JSON body against the operation's requestBody schema, ``$ref`` and
  ``nullable`` resolved (400, ``source.pointer`` at the offending member);
* limits the contract states only in prose (:data:`DOCUMENTED_LIMITS`): counts
  per request (400), payload bytes (413), one identifier per deletion request.

Library choice (see ``activation.contracts.openapi``): ``jsonschema`` with a
small OpenAPI 3.0 -> JSON Schema conversion, not ``openapi-core``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from activation.contracts.filters import Expression, FilterError, allowed_filters, check_filter, parse_filter
from activation.contracts.openapi import OpenApiContract, OpenApiDocument, Operation, Problem, parse_query
from activation.errors import ConfigError

REVISION = "2026-07-15"
CONTRACT_FILES = ("profiles.json", "lists.json", "events.json", "data_privacy.json")
ENV_VAR = "KLAVIYO_CONTRACT_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_COPY = REPO_ROOT / "contracts" / "klaviyo"
SHARED_COPY = REPO_ROOT.parent / "shared" / "contracts" / "klaviyo"
AUTH_SCHEME = "Klaviyo-API-Key"
JSON_API = "application/vnd.api+json"

# Decimal units, the stricter reading of "5MB" and "100KB": a client that stays
# under these passes Klaviyo whichever unit Klaviyo means.
MB = 1_000_000
KB = 1_000


@dataclass(frozen=True)
class DocumentedLimits:
    """Limits an operation's description states in prose (the schemas do not carry them).

    ``items``: (JSON pointer of an array in the body, most entries); ``item_bytes``:
    the most bytes of one entry of that array, serialised compactly as UTF-8 JSON.
    """

    body_bytes: int | None = None
    items: tuple[str, int] | None = None
    item_bytes: int | None = None
    source: str = ""


DOCUMENTED_LIMITS: dict[str, DocumentedLimits] = {
    "bulk_import_profiles": DocumentedLimits(
        5 * MB, ("/data/attributes/profiles/data", 10_000), 100 * KB,
        "Accepts up to 10,000 profiles per request. The maximum allowed payload size is 5MB. "
        "The maximum allowed payload size per-profile is 100KB.",
    ),
    "create_or_update_profile": DocumentedLimits(100 * KB, source="The maximum allowed payload size is 100KB."),
    "create_profile": DocumentedLimits(100 * KB, source="The maximum allowed payload size is 100KB."),
    "update_profile": DocumentedLimits(100 * KB, source="The maximum allowed payload size is 100KB."),
    "add_profiles_to_list": DocumentedLimits(
        items=("/data", 1_000), source="This endpoint accepts a maximum of 1000 profiles per call."
    ),
    "remove_profiles_from_list": DocumentedLimits(
        items=("/data", 1_000), source="This endpoint accepts a maximum of 1000 profiles per call."
    ),
    "bulk_subscribe_profiles": DocumentedLimits(
        items=("/data/attributes/profiles/data", 1_000),
        source="Maximum number of profiles can be submitted for subscription: 1000",
    ),
    "bulk_unsubscribe_profiles": DocumentedLimits(
        items=("/data/attributes/profiles/data", 100), source="Maximum number of profiles per call: 100"
    ),
    "create_event": DocumentedLimits(
        5 * MB, source="The size of the event payload must not exceed 5 MB (and at most 400 properties)."
    ),
}
MAX_EVENT_PROPERTIES = 400


@dataclass
class RequestCheck:
    """The outcome of checking one request: what it is, what it says, what is wrong with it."""

    operation: Operation | None
    path_params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    filter: Expression | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def status(self) -> int:
        """The status to answer with: the most specific of the problems' statuses (200 when none)."""
        if not self.problems:
            return 200
        order = (404, 405, 401, 413, 415, 400)
        return min((p.status for p in self.problems), key=lambda s: order.index(s) if s in order else len(order))


class KlaviyoContract(OpenApiContract):
    """Klaviyo's four OpenAPI documents plus the rules they state only in words."""

    def __init__(self, directory: Path) -> None:
        documents = [OpenApiDocument(name, _read(directory / name)) for name in CONTRACT_FILES]
        super().__init__(documents)
        self.directory = directory
        self._filters = {
            op.operation_id: allowed_filters(param.description)
            for op in self.operations
            for (location, name), param in op.parameters.items()
            if location == "query" and name == "filter"
        }

    def rate_limits(self) -> dict[str, dict[str, str]]:
        """operationId -> its ``x-klaviyo-ratelimit`` (e.g. ``{"burst": "10/s", "steady": "150/m"}``)."""
        return {op.operation_id: dict(op.raw.get("x-klaviyo-ratelimit", {})) for op in self.operations}

    def check_auth(self, headers: Mapping[str, str], api_key: str | None = None) -> Problem | None:
        """401 unless ``Authorization: Klaviyo-API-Key <key>`` (and the key is ``api_key`` when given)."""
        value = _header(headers, "authorization")
        if value is None:
            return Problem(401, "not_authenticated", "Missing Authorization header: send "
                           f"'Authorization: {AUTH_SCHEME} <your private API key>'.", parameter="Authorization")
        scheme, _, key = value.strip().partition(" ")
        if scheme != AUTH_SCHEME or not key.strip():
            return Problem(401, "not_authenticated", f"The Authorization header must read '{AUTH_SCHEME} <key>' "
                           f"(got {value[:24]!r}...).", parameter="Authorization")
        if api_key is not None and key.strip() != api_key:
            return Problem(401, "not_authenticated", "Incorrect private API key.", parameter="Authorization")
        return None

    def check_request(
        self,
        operation: Operation,
        path_params: dict[str, str],
        path: str,
        headers: Mapping[str, str],
        body: Any,
        strict_media_type: bool = False,
        any_revision: bool = False,
    ) -> RequestCheck:
        """Everything after matching and authentication: revision, query, media type, body, limits.

        ``strict_media_type``: refuse ``application/json``, which Klaviyo accepts
        but the contract does not declare. ``any_revision``: accept any well-formed
        revision header, not only this contract's.
        """
        query_pairs = parse_query(path)
        check = RequestCheck(operation, path_params, dict(query_pairs))
        problems = check.problems
        problems.extend(self.check_parameters(operation, query_pairs, headers))
        revision = _header(headers, "revision")
        if revision is not None:
            well_formed = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(\.[\w-]+)?", revision.strip())
            if not well_formed:
                problems.append(Problem(400, "invalid", f"Invalid revision {revision!r}: use YYYY-MM-DD, "
                                        f"e.g. 'revision: {REVISION}'.", parameter="revision"))
            elif well_formed.group(1) != REVISION and not any_revision:
                problems.append(Problem(400, "invalid", f"This contract is revision {REVISION}; the request "
                                        f"asked for revision {revision!r}. Send 'revision: {REVISION}'.",
                                        parameter="revision"))
        text = check.query.get("filter")
        allowed = self._filters.get(operation.operation_id)
        if text is not None and allowed is not None:
            try:
                check.filter = parse_filter(text)
            except FilterError as error:
                problems.append(Problem(400, "invalid", f"Invalid filter: {error}.", parameter="filter"))
            else:
                for detail in check_filter(check.filter, allowed):
                    problems.append(Problem(400, "invalid", f"Invalid filter: {detail}.", parameter="filter"))
        limits = DOCUMENTED_LIMITS.get(operation.operation_id, DocumentedLimits())
        size = _size(body)
        if limits.body_bytes is not None and size > limits.body_bytes:
            problems.append(Problem(413, "payload_too_large", f"The request body is {size:,} bytes; "
                                    f"{operation.operation_id} accepts at most {limits.body_bytes:,} bytes. "
                                    "Send fewer records per request.", pointer="/"))
            return check
        also_accept = () if strict_media_type else ("application/json",)
        check.body, body_problems = self.check_body(operation, headers, body, also_accept)
        problems.extend(body_problems)
        if check.body is not None and not body_problems:
            problems.extend(self._documented(operation, limits, path_params, check.body))
        return check

    def check(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: Any,
        api_key: str | None = None,
        strict_media_type: bool = False,
    ) -> RequestCheck:
        """Match, authenticate and check one request; ``path`` may carry a query string or be a full URL."""
        target = urlsplit(path)
        path_only = target.path + (f"?{target.query}" if target.query else "")
        operation, params, problem = self.match(method, path_only)
        if operation is None:
            return RequestCheck(None, problems=[problem] if problem else [])
        auth = self.check_auth(headers, api_key)
        check = self.check_request(operation, params, path_only, headers, body, strict_media_type)
        if auth is not None:
            check.problems.insert(0, auth)
        return check

    def _documented(
        self, operation: Operation, limits: DocumentedLimits, path_params: dict[str, str], body: Any
    ) -> list[Problem]:
        problems: list[Problem] = []
        op = operation.operation_id
        if limits.items is not None:
            pointer, most = limits.items
            entries = _at(body, pointer)
            if isinstance(entries, list):
                if len(entries) > most:
                    problems.append(Problem(400, "invalid", f"{len(entries):,} entries; {op} accepts at most "
                                            f"{most:,} per request. Split the batch.", pointer=pointer))
                if limits.item_bytes is not None:
                    for index, entry in enumerate(entries):
                        size = len(json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode())
                        if size > limits.item_bytes:
                            problems.append(Problem(400, "invalid", f"This entry is {size:,} bytes; at most "
                                                    f"{limits.item_bytes:,} bytes each.", pointer=f"{pointer}/{index}"))
                            if len(problems) >= 10:
                                break
        if op == "request_profile_deletion":
            attributes = _at(body, "/data/attributes/profile/data/attributes") or {}
            given = [name for name in ("email", "phone_number") if attributes.get(name) is not None]
            if _at(body, "/data/attributes/profile/data/id") is not None:
                given.append("id")
            if len(given) != 1:
                problems.append(Problem(400, "invalid", "Give exactly one identifier (email, phone_number or id) "
                                        f"per deletion request; got {', '.join(given) or 'none'}.",
                                        pointer="/data/attributes/profile/data"))
        if op == "update_profile":
            body_id = _at(body, "/data/id")
            if body_id != path_params.get("id"):
                problems.append(Problem(400, "invalid", f"data.id ({body_id!r}) must equal the profile id in the "
                                        f"path ({path_params.get('id')!r}).", pointer="/data/id"))
        if op == "create_event":
            properties = _at(body, "/data/attributes/properties")
            if isinstance(properties, dict) and len(properties) > MAX_EVENT_PROPERTIES:
                problems.append(Problem(400, "invalid", f"{len(properties)} event properties; at most "
                                        f"{MAX_EVENT_PROPERTIES}.", pointer="/data/attributes/properties"))
        return problems


def contract_dir() -> Path:
    """The directory holding the four contract files (see the module docstring for the order)."""
    candidates: list[tuple[str, Path]] = []
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override)
        if not all((path / name).is_file() for name in CONTRACT_FILES):
            raise ConfigError(f"${ENV_VAR}={override} does not hold {', '.join(CONTRACT_FILES)}; "
                              f"point it at a copy of the Klaviyo contract or unset it to use {REPO_COPY}")
        return path
    candidates += [("repository copy", REPO_COPY), ("shared copy", SHARED_COPY)]
    for _, path in candidates:
        if all((path / name).is_file() for name in CONTRACT_FILES):
            return path
    raise ConfigError(f"the Klaviyo contract ({', '.join(CONTRACT_FILES)}) is in neither {REPO_COPY} nor "
                      f"{SHARED_COPY}; restore contracts/klaviyo/ from git or set ${ENV_VAR}")


def load_contract(directory: Path | None = None) -> KlaviyoContract:
    """The parsed contract (cached per directory)."""
    return _load(directory or contract_dir())


@lru_cache(maxsize=4)
def _load(directory: Path) -> KlaviyoContract:
    return KlaviyoContract(directory)


def validate_request(
    method: str, path: str, headers: Mapping[str, str], body: Any, *, strict_media_type: bool = True
) -> list[str]:
    """Problems of one request against the Klaviyo contract, as readable strings (empty: valid).

    ``path``: ``/api/...`` with its query string, or a full URL. ``body``: the raw
    bytes or text sent, or the JSON value (dict/list) before encoding, or ``None``.
    ``strict_media_type`` (default) accepts only the media type the contract
    declares (``application/vnd.api+json``); the simulator is lenient like Klaviyo.
    """
    check = load_contract().check(method, path, headers, body, strict_media_type=strict_media_type)
    return [str(problem) for problem in check.problems]


def validate_response(method: str, path: str, status: int, body: Any) -> list[str]:
    """Problems of a response body against the operation's declared response schema (empty: valid)."""
    contract = load_contract()
    operation, _, problem = contract.match(method, urlsplit(path).path)
    if operation is None:
        return [str(problem)]
    if not operation.declares_status(status):
        return [f"{operation.operation_id} declares no {status} response"]
    validator = operation.response_validator(status)
    if validator is None:
        return [] if body in (None, b"", "") else [f"{operation.operation_id} {status} has no body in the contract"]
    parsed = json.loads(body) if isinstance(body, (bytes, str)) else body
    return [f"{'/'.join(map(str, e.absolute_path)) or '/'}: {e.message}" for e in validator.iter_errors(parsed)][:10]


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read the Klaviyo contract file {path}: {error}") from None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _size(body: Any) -> int:
    if body is None:
        return 0
    if isinstance(body, (bytes, bytearray)):
        return len(body)
    if isinstance(body, str):
        return len(body.encode())
    return len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())


def _at(document: Any, pointer: str) -> Any:
    node = document
    for part in pointer.strip("/").split("/"):
        if not part:
            continue
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node
