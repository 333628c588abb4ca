"""Check HTTP requests (and responses) against OpenAPI 3.0 documents.

Generic, vendor-neutral part of the contract checks: the Klaviyo module
(``activation.contracts.klaviyo``) adds what is specific to Klaviyo (where the
files are, the revision and API-key headers, limits that the contract states
only in prose).

Library: ``jsonschema`` (Draft 2020-12) with ``referencing`` for ``$ref``, after
a small explicit conversion of OpenAPI 3.0 schema objects to JSON Schema
(:func:`to_json_schema`). Why not ``openapi-core``: it validates whole
requests, but its errors are hard to map onto JSON:API ``source.pointer`` and
``source.parameter``, it is noticeably slower per request (the simulator
validates every request of a 100,000-request benchmark) and it adds several
dependencies; ``jsonschema`` is the reference implementation, already pulled
in by dbt, and precompiled validators per operation are fast. The conversion
handles the OpenAPI 3.0 dialect that JSON Schema does not know:

* ``nullable: true`` -> the type also admits ``null`` (``type: [T, "null"]``;
  for ``$ref``/``oneOf``/``allOf`` without a type: ``anyOf: [{type: null}, ...]``);
* siblings of ``$ref`` other than ``nullable`` are ignored, as OpenAPI 3.0 says;
* annotations that JSON Schema does not need (``example``, ``discriminator``,
  ``xml``, ``externalDocs``, ``x-*``) are dropped.

``format: date-time`` and ``date`` are checked (ISO 8601 via ``datetime``);
``uri`` is not (responses only).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema
import referencing
from referencing.jsonschema import DRAFT202012

from activation.contracts.fastcheck import FastValidator, has_ref

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# OpenAPI keywords that have no meaning for validation
_DROPPED = {"example", "examples", "discriminator", "xml", "externalDocs", "deprecated", "nullable", "description"}
# keywords whose value is a map of name -> schema
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")
# keywords whose value is a list of schemas
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
# keywords whose value is one schema
_SCHEMA_VALUES = ("items", "not", "additionalProperties", "contains", "propertyNames")

_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    if "T" not in text and "t" not in text and " " not in text:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time (YYYY-MM-DDTHH:MM:SS[+00:00])")
    datetime.fromisoformat(text)
    return True


@_FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if isinstance(value, str):
        date.fromisoformat(value)
    return True


def to_json_schema(schema: Any) -> Any:
    """Convert one OpenAPI 3.0 schema object (recursively) into JSON Schema 2020-12."""
    if not isinstance(schema, dict):
        return schema
    nullable = bool(schema.get("nullable"))
    if "$ref" in schema:
        converted: dict[str, Any] = {"$ref": schema["$ref"]}
        return {"anyOf": [{"type": "null"}, converted]} if nullable else converted
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED or key.startswith("x-"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [to_json_schema(sub) for sub in value]
        elif key in _SCHEMA_VALUES and isinstance(value, dict):
            out[key] = to_json_schema(value)
        else:
            out[key] = value
    if nullable:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"] if "null" not in types else types
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request, in the terms of a JSON:API error object.

    ``status`` is the HTTP status the problem deserves (400 invalid, 401 not
    authenticated, 404/405 no such operation, 413 too large, 415 media type);
    ``pointer`` (into the JSON body) or ``parameter`` (query/header/path) says where.
    """

    status: int
    code: str
    detail: str
    pointer: str | None = None
    parameter: str | None = None

    def __str__(self) -> str:
        where = f"{self.pointer}: " if self.pointer is not None else ""
        where = f"parameter {self.parameter}: " if self.parameter is not None else where
        return f"{self.status} {self.code}: {where}{self.detail}"


@dataclass(frozen=True)
class Parameter:
    """A declared query, header or path parameter with its (converted) schema."""

    name: str
    location: str
    required: bool
    schema: dict[str, Any]
    explode: bool
    description: str

    @cached_property
    def validator(self) -> jsonschema.protocols.Validator:
        return jsonschema.Draft202012Validator(self.schema, format_checker=_FORMATS)


@dataclass
class Operation:
    """One operation of an OpenAPI document, ready to check requests against."""

    document: OpenApiDocument
    method: str
    path_template: str
    operation_id: str
    raw: dict[str, Any]
    parameters: dict[tuple[str, str], Parameter]
    body_required: bool
    body_media_types: tuple[str, ...]
    body_schema: dict[str, Any] | None
    pattern: re.Pattern[str] = field(init=False)
    literal_segments: int = field(init=False)
    path_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        regex = ""
        literal = 0
        for segment in self.path_template.strip("/").split("/"):
            match = re.fullmatch(r"\{([^}]+)\}", segment)
            if match:
                regex += f"/(?P<{_group(match.group(1))}>[^/]+)"
            else:
                regex += "/" + re.escape(segment)
                literal += 1
        self.pattern = re.compile(f"^{regex}/?$")
        self.literal_segments = literal
        self.path_names = tuple(name[1:-1] for name in re.findall(r"\{[^}]+\}", self.path_template))

    @property
    def extensions(self) -> dict[str, Any]:
        """The operation's ``x-...`` vendor extensions (e.g. ``x-klaviyo-ratelimit``)."""
        return {key: value for key, value in self.raw.items() if key.startswith("x-")}

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters if ``path`` (no query string) is this operation's path."""
        found = self.pattern.match(path)
        if not found:
            return None
        return {name: found.group(_group(name)) for name in self.path_names}

    @cached_property
    def body_validator(self) -> jsonschema.protocols.Validator | FastValidator | None:
        """The body's validator: a compiled pre-check (fastcheck) before ``jsonschema``, which gives the errors
        of an invalid body; ``jsonschema`` alone when a (recursive) ``$ref`` is left after inlining."""
        if self.body_schema is None:
            return None
        schema = self.document.inline(f"/x-request-bodies/{_escape(self.operation_id)}")
        python = self.document.validator(schema)
        if has_ref(schema):
            return python
        return FastValidator(schema, python=python, format_checker=_FORMATS)

    def response_validator(self, status: int) -> jsonschema.protocols.Validator | None:
        """A validator for this operation's JSON response with ``status`` (``None``: no body declared)."""
        responses = self.raw.get("responses", {})
        key = str(status) if str(status) in responses else f"{str(status)[0]}XX"
        if key not in responses:
            return None
        pointer = f"/paths/{_escape(self.path_template)}/{self.method}/responses/{key}"
        response = self.document.resolve_pointer(pointer)
        while "$ref" in response:
            pointer = response["$ref"][1:]
            response = self.document.resolve_pointer(pointer)
        content = response.get("content") or {}
        if not content:
            return None
        media = next(iter(content))
        return self.document.validator(self.document.inline(f"{pointer}/content/{_escape(media)}/schema"))

    def declares_status(self, status: int) -> bool:
        responses = self.raw.get("responses", {})
        return str(status) in responses or f"{str(status)[0]}XX" in responses


class OpenApiDocument:
    """One OpenAPI 3.0 document: its operations and a schema registry for ``$ref``."""

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        self.name = name
        self.spec = spec
        self.uri = f"urn:openapi:{name}"
        converted = _convert_document(spec)
        self._converted = converted
        self._registry: referencing.Registry = referencing.Registry().with_resource(
            self.uri, DRAFT202012.create_resource(converted)
        )
        self.operations: list[Operation] = list(self._operations())

    def validator(self, schema: dict[str, Any]) -> jsonschema.protocols.Validator:
        return jsonschema.Draft202012Validator(schema, registry=self._registry, format_checker=_FORMATS)

    def inline(self, pointer: str) -> Any:
        """The converted schema at ``pointer`` with local ``$ref``s replaced by their targets.

        Validating without reference lookups is about twice as fast; a recursive
        reference (none in Klaviyo's request bodies) is left as a ``$ref`` into
        the document, which the registry still resolves.
        """

        def expand(node: Any, trail: tuple[str, ...]) -> Any:
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/"):
                    if ref in trail:
                        return {"$ref": f"{self.uri}{ref}"}
                    return expand(self.resolve_pointer(ref[1:]), (*trail, ref))
                return {key: expand(value, trail) for key, value in node.items()}
            if isinstance(node, list):
                return [expand(item, trail) for item in node]
            return node

        return expand(self.resolve_pointer(pointer), ())

    def resolve_pointer(self, pointer: str) -> Any:
        node: Any = self._converted
        for part in pointer.strip("/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def _operations(self) -> Iterator[Operation]:
        for path_template, item in self.spec.get("paths", {}).items():
            shared = item.get("parameters", [])
            for method in HTTP_METHODS:
                raw = item.get(method)
                if raw is None:
                    continue
                parameters: dict[tuple[str, str], Parameter] = {}
                for declared in [*shared, *raw.get("parameters", [])]:
                    declared = self._deref(declared)
                    key = (declared["in"], _key(declared["in"], declared["name"]))
                    parameters[key] = Parameter(
                        name=declared["name"],
                        location=declared["in"],
                        required=bool(declared.get("required")) or declared["in"] == "path",
                        schema=to_json_schema(declared.get("schema", {})),
                        explode=bool(declared.get("explode", True)),
                        description=declared.get("description", ""),
                    )
                body = self._deref(raw.get("requestBody", {})) if raw.get("requestBody") else {}
                content = body.get("content", {})
                operation_id = raw.get("operationId") or f"{method}_{path_template}"
                body_schema = next((media["schema"] for media in content.values() if "schema" in media), None)
                yield Operation(
                    document=self,
                    method=method,
                    path_template=path_template,
                    operation_id=operation_id,
                    raw=raw,
                    parameters=parameters,
                    body_required=bool(body.get("required")),
                    body_media_types=tuple(content),
                    body_schema=body_schema,
                )

    def _deref(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.resolve_pointer(node["$ref"][1:]) if node["$ref"].startswith("#") else node
            node = dict(node)
        return node


class OpenApiContract:
    """A set of OpenAPI documents served under one host: match, then check requests."""

    def __init__(self, documents: Iterable[OpenApiDocument]) -> None:
        self.documents = list(documents)
        operations = [operation for document in self.documents for operation in document.operations]
        # more literal segments first: /lists/{id}/profiles before /lists/{id}/{anything}
        self.operations = sorted(operations, key=lambda op: (-op.literal_segments, op.path_template))
        self.by_id = {operation.operation_id: operation for operation in operations}

    def match(self, method: str, path: str) -> tuple[Operation | None, dict[str, str], Problem | None]:
        """The operation for ``method`` and ``path``; else a 404 or 405 problem."""
        path = urlsplit(path).path or "/"
        allowed: list[str] = []
        for operation in self.operations:
            params = operation.match(path)
            if params is None:
                continue
            if operation.method == method.lower():
                return operation, params, None
            allowed.append(operation.method.upper())
        if allowed:
            detail = f"Method {method.upper()} is not allowed on {path}; allowed: {', '.join(sorted(set(allowed)))}."
            return None, {}, Problem(405, "method_not_allowed", detail)
        return None, {}, Problem(404, "not_found", f"No operation of the contract matches the path {path}.")

    def check_parameters(
        self, operation: Operation, query: list[tuple[str, str]], headers: Mapping[str, str]
    ) -> list[Problem]:
        """Query parameters (declared ones only, typed) and declared header parameters."""
        problems: list[Problem] = []
        given: dict[str, list[str]] = {}
        for name, value in query:
            given.setdefault(name, []).append(value)
        for name, values in given.items():
            parameter = operation.parameters.get(("query", name))
            if parameter is None:
                known = sorted(p.name for p in operation.parameters.values() if p.location == "query")
                detail = f"'{name}' is not a valid query parameter for {operation.operation_id}"
                detail += f"; valid: {', '.join(known)}." if known else "; it takes none."
                problems.append(Problem(400, "invalid", detail, parameter=name))
                continue
            if len(values) > 1:
                problems.append(Problem(400, "invalid", f"'{name}' is given {len(values)} times.", parameter=name))
                continue
            problems.extend(_check_value(parameter, values[0]))
        lowered = {key.lower(): value for key, value in headers.items()}
        for parameter in operation.parameters.values():
            if parameter.location == "query" and parameter.required and parameter.name not in given:
                problems.append(Problem(400, "invalid", f"Missing required query parameter '{parameter.name}'.",
                                        parameter=parameter.name))
            if parameter.location == "header":
                header = lowered.get(parameter.name.lower())
                if header is None:
                    if parameter.required:
                        problems.append(Problem(400, "invalid", f"Missing required header '{parameter.name}'.",
                                                parameter=parameter.name))
                else:
                    problems.extend(_check_value(parameter, header))
        return problems

    def check_body(
        self, operation: Operation, headers: Mapping[str, str], body: Any, also_accept: tuple[str, ...] = ()
    ) -> tuple[Any, list[Problem]]:
        """Media type, JSON syntax and the body schema; returns (parsed body, problems).

        ``also_accept``: media types accepted although the contract does not declare them.
        """
        if not operation.body_media_types:
            return None, []
        if body is None or (isinstance(body, (bytes, bytearray, str)) and not body):
            if operation.body_required:
                return None, [Problem(400, "invalid", "The request body is required.", pointer="/data")]
            return None, []
        lowered = {key.lower(): value for key, value in headers.items()}
        content_type = lowered.get("content-type", "").split(";")[0].strip().lower()
        accepted = (*operation.body_media_types, *also_accept)
        if content_type not in accepted:
            detail = (f"Content-Type {content_type or '(none)'!r} is not supported; "
                      f"send {operation.body_media_types[0]}.")
            return None, [Problem(415, "unsupported_media_type", detail, parameter="Content-Type")]
        if isinstance(body, (bytes, bytearray, str)):
            try:
                parsed = json.loads(body)
            except (ValueError, UnicodeDecodeError) as error:
                return None, [Problem(400, "parse_error", f"The body is not valid JSON: {error}.", pointer="/")]
        else:
            parsed = body
        validator = operation.body_validator
        if validator is None or validator.is_valid(parsed):
            return parsed, []
        return parsed, schema_problems(validator.iter_errors(parsed))


def schema_problems(errors: Iterable[jsonschema.ValidationError], limit: int = 10) -> list[Problem]:
    """JSON:API problems from jsonschema errors, most relevant first, at most ``limit``."""
    problems = []
    for error in sorted(errors, key=jsonschema.exceptions.relevance)[:limit]:
        best = jsonschema.exceptions.best_match([error]) if error.context else error
        pointer = "/" + "/".join(_escape(str(part)) for part in best.absolute_path)
        problems.append(Problem(400, "invalid", best.message, pointer=pointer))
    return problems


def _check_value(parameter: Parameter, text: str) -> list[Problem]:
    value: Any = text
    schema_type = parameter.schema.get("type")
    types = schema_type if isinstance(schema_type, list) else [schema_type]
    if "array" in types:
        value = text.split(",") if text else []
    elif "integer" in types:
        try:
            value = int(text)
        except ValueError:
            return [Problem(400, "invalid", f"'{parameter.name}' must be an integer, got {text!r}.",
                            parameter=parameter.name)]
    elif "number" in types:
        try:
            value = float(text)
        except ValueError:
            return [Problem(400, "invalid", f"'{parameter.name}' must be a number, got {text!r}.",
                            parameter=parameter.name)]
    elif "boolean" in types:
        if text.lower() not in ("true", "false"):
            return [Problem(400, "invalid", f"'{parameter.name}' must be true or false, got {text!r}.",
                            parameter=parameter.name)]
        value = text.lower() == "true"
    errors = list(parameter.validator.iter_errors(value))
    return [Problem(400, "invalid", f"'{parameter.name}': {error.message}.", parameter=parameter.name)
            for error in errors[:3]]


def parse_query(path: str) -> list[tuple[str, str]]:
    """The query string of ``path`` as (name, value) pairs, percent-decoded."""
    return parse_qsl(urlsplit(path).query, keep_blank_values=True)


def _convert_document(spec: dict[str, Any]) -> dict[str, Any]:
    """The document with every schema converted, plus ``x-request-bodies/<operationId>``."""
    components = spec.get("components", {})
    converted: dict[str, Any] = {"components": {}}
    for section, entries in components.items():
        if section == "schemas":
            converted["components"]["schemas"] = {name: to_json_schema(s) for name, s in entries.items()}
        elif section == "responses":
            converted["components"]["responses"] = {name: _convert_media(r) for name, r in entries.items()}
        else:
            converted["components"][section] = entries
    converted["paths"] = {}
    bodies: dict[str, Any] = {}
    for path_template, item in spec.get("paths", {}).items():
        converted["paths"][path_template] = {}
        for method in HTTP_METHODS:
            raw = item.get(method)
            if raw is None:
                continue
            responses = {code: _convert_media(response) for code, response in raw.get("responses", {}).items()}
            converted["paths"][path_template][method] = {"responses": responses}
            content = raw.get("requestBody", {}).get("content", {})
            schema = next((media["schema"] for media in content.values() if "schema" in media), None)
            if schema is not None:
                bodies[raw.get("operationId") or f"{method}_{path_template}"] = to_json_schema(schema)
    converted["x-request-bodies"] = bodies
    return converted


def _convert_media(response: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in response:
        return {"$ref": response["$ref"]}
    content = {
        media: {**entry, "schema": to_json_schema(entry["schema"])} if "schema" in entry else entry
        for media, entry in response.get("content", {}).items()
    }
    return {**response, "content": content} if content else dict(response)


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


def _key(location: str, name: str) -> str:
    return name.lower() if location == "header" else name
