"""Keep credentials out of logs and exception messages.

Two layers: headers whose *name* looks secret (Authorization, api keys,
tokens, cookies) are replaced by ``[redacted]``; and the *values* of those
headers (and the token after an auth scheme, and a Basic password) are
scrubbed from any free text, such as an ESP error body that echoes the key.
Query parameters with secret-looking names are scrubbed from text too, and
from httpx's own log lines (it logs each request's URL at INFO).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
from collections.abc import Mapping

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"auth|key|token|secret|password|passwd|signature|cookie|session|credential", re.I)
_SECRET_PARAM = re.compile(
    r"([?&;][^=&\s]*(?:key|token|secret|password|signature|auth)[^=&\s]*=)[^&\s]+", re.I
)
_MIN_SECRET = 4  # shorter values would scrub ordinary words


def redact_query(text: str) -> str:
    """``text`` with the values of secret-looking query parameters replaced."""
    return _SECRET_PARAM.sub(lambda match: match[1] + REDACTED, text)


class QueryRedactingFilter(logging.Filter):
    """A logging filter that redacts secret query parameters in a record's arguments (httpx logs URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(str(arg)) if "=" in str(arg) else arg for arg in record.args)
        return True


def is_secret_header(name: str) -> bool:
    """Whether a header with this name carries a credential."""
    return bool(_SECRET_NAME.search(name))


class Redactor:
    """Remembers secret header values; redacts header mappings and free text."""

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        if headers:
            self.learn(headers)

    def learn(self, headers: Mapping[str, str]) -> None:
        """Remember the values of the secret headers among ``headers``."""
        found = set()
        for name, value in headers.items():
            if is_secret_header(name) and value:
                found.update(_secret_parts(str(value)))
        with self._lock:
            self._secrets |= {secret for secret in found if len(secret) >= _MIN_SECRET}

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """A copy with every secret header's value replaced by ``[redacted]``."""
        return {name: REDACTED if is_secret_header(name) else self.text(str(value)) for name, value in headers.items()}

    def text(self, text: str) -> str:
        """``text`` with every known secret and every secret-looking query parameter replaced."""
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return redact_query(text)


def _secret_parts(value: str) -> set[str]:
    """The value, the credential after an auth scheme ("Bearer x" -> "x"), and a Basic password."""
    parts = {value.strip()}
    scheme, _, credential = value.strip().partition(" ")
    if credential:
        parts.add(credential.strip())
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credential.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            if decoded:
                parts.add(decoded)
                parts.add(decoded.partition(":")[2])
    return parts
