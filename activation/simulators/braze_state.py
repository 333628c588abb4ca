"""The Braze simulator's workspace state and its rules, without HTTP.

What Braze does with a valid request, as far as a sync can observe it:

* **Users** are found by ``external_id``, else ``braze_id``, else
  ``user_alias``, else ``email`` (case-insensitive; of several users with the
  address, the most recently updated), else ``phone``. A missing user is
  created, except with ``_update_existing_only: true`` (the default for a
  ``user_alias``): then the object is skipped. When ``external_id`` (or
  another earlier identifier) is given, ``email`` is an attribute to set.
* **Attributes** merge: an omitted attribute is unchanged, ``null`` removes
  it, ``{"inc": n}`` adds to a number, ``{"add": [...], "remove": [...]}``
  edits an array attribute: ``add`` appends the values the array does not
  hold yet, ``remove`` takes out every occurrence, and an array longer than
  ``array_max_length`` (Braze's default 25) loses its oldest values. Any other
  value replaces the attribute.
* **Email subscription**: a new user starts ``subscribed`` (Braze's default);
  every change of ``email_subscribe`` by a request is recorded in
  :meth:`BrazeState.subscription_changes`, so a test can prove a sync never
  subscribed anyone. Calls to /v2/subscription/status/set are recorded too.
* **Events are not deduplicated**: every event object is recorded, repeats
  included; :attr:`BrazeState.duplicate_events` counts the ones whose user,
  name, time and properties equal an earlier event's.
* **Deletion** (/users/delete) removes users at once: by external_id,
  braze_id or alias; by email (or phone) with a ``prioritization``: when one
  user has the address it is deleted; when several do, ``identified`` /
  ``unidentified`` keep the users with / without an external_id and
  ``most_recently_updated`` keeps the newest; if more than one is left, none
  is deleted (as Braze documents).

Every public method takes the simulator's lock; queries return copies.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

CONTROL_KEYS = frozenset({"external_id", "user_alias", "braze_id", "_update_existing_only", "push_token_import"})
DEFAULT_EMAIL_SUBSCRIBE = "subscribed"


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass
class User:
    braze_id: str
    external_id: str | None = None
    email: str | None = None
    phone: str | None = None
    aliases: list[dict[str, str]] = field(default_factory=list)
    email_subscribe: str = DEFAULT_EMAIL_SUBSCRIBE
    attributes: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=_now)
    updated_seq: int = 0  # orders "most recently updated"

    def as_dict(self) -> dict[str, Any]:
        return {
            "braze_id": self.braze_id,
            "external_id": self.external_id,
            "email": self.email,
            "phone": self.phone,
            "aliases": copy.deepcopy(self.aliases),
            "email_subscribe": self.email_subscribe,
            "attributes": copy.deepcopy(self.attributes),
            "created_at": self.created_at,
        }


@dataclass
class TrackResult:
    """What one /users/track request did: processed counts per array and per-object errors."""

    processed: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0


class ObjectRejected(Exception):
    """One object cannot be applied (a non-fatal error for its index)."""


class BrazeState:
    """A Braze workspace: users, events, purchases, deletions, subscription changes."""

    def __init__(self, lock: threading.RLock | None = None, array_max_length: int = 25) -> None:
        self.lock = lock or threading.RLock()
        self.array_max_length = array_max_length
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self._users: dict[str, User] = {}
            self._by_external: dict[str, str] = {}
            self._events: list[dict[str, Any]] = []
            self._event_keys: set[str] = set()
            self._duplicates = 0
            self._purchases: list[dict[str, Any]] = []
            self._deletions: list[dict[str, Any]] = []
            self._deleted: list[dict[str, Any]] = []
            self._subscription_changes: list[dict[str, Any]] = []
            self._subscription_calls: list[Any] = []
            self._seq = itertools.count(1)

    # ------------------------------------------------------------------ writes

    def track(self, body: dict[str, Any], rejected: dict[tuple[str, int], str] | None = None) -> TrackResult:
        """Apply a validated /users/track body; ``rejected``: (array, index) -> error the object gets instead."""
        rejected = rejected or {}
        result = TrackResult()
        with self.lock:
            for array in ("attributes", "events", "purchases"):
                items = body.get(array)
                if items is None:
                    continue
                result.processed[array] = 0
                for index, item in enumerate(items):
                    problem = rejected.get((array, index))
                    if problem is None:
                        try:
                            applied = self._apply(array, item)
                        except ObjectRejected as error:
                            problem = str(error)
                        else:
                            result.processed[array] += 1
                            result.skipped += 0 if applied else 1
                            continue
                    result.errors.append({"type": problem, "input_array": array, "index": index})
        return result

    def delete(self, body: dict[str, Any]) -> int:
        """Apply a validated /users/delete body; the number of users deleted."""
        (kind, ids), = body.items()
        deleted = 0
        with self.lock:
            for entry in ids:
                victims = self._deletion_targets(kind, entry)
                for user in victims:
                    self._remove(user)
                deleted += len(victims)
                self._deletions.append({
                    "identifier_type": kind, "identifier": copy.deepcopy(entry),
                    "deleted": [user.braze_id for user in victims], "at": _now(),
                })
        return deleted

    def record_subscription_call(self, body: Any) -> None:
        with self.lock:
            self._subscription_calls.append(copy.deepcopy(body))

    # ------------------------------------------------------------------ queries

    def users(self) -> list[dict[str, Any]]:
        """Every user, in creation order."""
        with self.lock:
            return [user.as_dict() for user in self._users.values()]

    def user(self, external_id: str) -> dict[str, Any] | None:
        with self.lock:
            braze_id = self._by_external.get(external_id)
            return self._users[braze_id].as_dict() if braze_id else None

    def users_by_email(self, email: str) -> list[dict[str, Any]]:
        """Every user with this address (case-insensitive), most recently updated first."""
        with self.lock:
            return [user.as_dict() for user in self._with_email(email)]

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        """The most recently updated user with this address (how Braze resolves an email identifier)."""
        found = self.users_by_email(email)
        return found[0] if found else None

    def members(self, attribute: str, value: Any = None) -> list[dict[str, Any]]:
        """Users whose boolean ``attribute`` is true, or (``value`` given) whose array ``attribute`` holds it."""
        with self.lock:
            found = []
            for user in self._users.values():
                current = user.attributes.get(attribute)
                if value is None and current is True or value is not None and isinstance(current, list) \
                        and value in current:
                    found.append(user.as_dict())
            return found

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every event received (repeats included), oldest first."""
        with self.lock:
            return [copy.deepcopy(e) for e in self._events if name is None or e["name"] == name]

    @property
    def duplicate_events(self) -> int:
        """Events equal to an earlier one (user, name, time, properties): what a resend would create."""
        with self.lock:
            return self._duplicates

    def purchases(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self._purchases)

    def deletions(self) -> list[dict[str, Any]]:
        """Every identifier /users/delete was given, with the braze_ids it deleted."""
        with self.lock:
            return copy.deepcopy(self._deletions)

    def deleted_users(self) -> list[dict[str, Any]]:
        """The users as they were when deleted."""
        with self.lock:
            return copy.deepcopy(self._deleted)

    def subscription_changes(self, to: str | None = None) -> list[dict[str, Any]]:
        """Every change of a user's ``email_subscribe`` made by a request (optionally only to ``to``)."""
        with self.lock:
            return [dict(c) for c in self._subscription_changes if to is None or c["to"] == to]

    def subscription_calls(self) -> list[Any]:
        """Bodies of POST /v2/subscription/status/set (a sync never makes one)."""
        with self.lock:
            return copy.deepcopy(self._subscription_calls)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "users": self.users(),
                "events": self.events(),
                "duplicate_events": self._duplicates,
                "purchases": self.purchases(),
                "deletions": self.deletions(),
                "deleted_users": self.deleted_users(),
                "subscription_changes": self.subscription_changes(),
                "subscription_calls": self.subscription_calls(),
            }

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "users": len(self._users),
                "events": len(self._events),
                "duplicate_events": self._duplicates,
                "purchases": len(self._purchases),
                "deletions": len(self._deletions),
                "deleted_users": len(self._deleted),
                "subscription_changes": len(self._subscription_changes),
                "subscription_calls": len(self._subscription_calls),
            }

    # ------------------------------------------------------------------ rules

    def _apply(self, array: str, item: dict[str, Any]) -> bool:
        """Apply one object; False when it was skipped (``_update_existing_only`` and no such user)."""
        user, identified_by = self._resolve(item)
        if user is None:
            return False
        if array == "attributes":
            self._set_attributes(user, item, identified_by)
        elif array == "events":
            event = {
                "name": item["name"], "time": item["time"], "properties": copy.deepcopy(item.get("properties") or {}),
                "braze_id": user.braze_id, "external_id": user.external_id, "email": user.email,
                "app_id": item.get("app_id"), "received_at": _now(),
            }
            key = json.dumps([user.braze_id, event["name"], event["time"], event["properties"]], sort_keys=True,
                             default=str)
            if key in self._event_keys:
                self._duplicates += 1
            self._event_keys.add(key)
            self._events.append(event)
        else:
            self._purchases.append({**copy.deepcopy(item), "braze_id": user.braze_id})
        user.updated_seq = next(self._seq)
        return True

    def _resolve(self, item: dict[str, Any]) -> tuple[User | None, str]:
        update_only = item.get("_update_existing_only")
        if item.get("external_id") is not None:
            braze_id = self._by_external.get(item["external_id"])
            if braze_id is not None:
                return self._users[braze_id], "external_id"
            return (None if update_only else self._create(external_id=item["external_id"])), "external_id"
        if item.get("braze_id") is not None:
            user = self._users.get(item["braze_id"])
            if user is None:
                raise ObjectRejected(f"No user with braze_id {item['braze_id']!r}.")
            return user, "braze_id"
        if item.get("user_alias") is not None:
            alias = item["user_alias"]
            for user in self._users.values():
                if alias in user.aliases:
                    return user, "user_alias"
            if update_only is False:  # aliases are update-only unless told otherwise
                return self._create(aliases=[dict(alias)]), "user_alias"
            return None, "user_alias"
        if item.get("email") is not None:
            found = self._with_email(item["email"])
            if found:
                return found[0], "email"
            return (None if update_only else self._create(email=item["email"])), "email"
        found = [u for u in self._users.values() if u.phone == item.get("phone")]
        if found:
            return max(found, key=lambda u: u.updated_seq), "phone"
        return (None if update_only else self._create(phone=item.get("phone"))), "phone"

    def _create(self, **identifiers: Any) -> User:
        user = User(braze_id=uuid.uuid4().hex[:24], **identifiers)
        user.updated_seq = next(self._seq)
        self._users[user.braze_id] = user
        if user.external_id is not None:
            self._by_external[user.external_id] = user.braze_id
        return user

    def _set_attributes(self, user: User, item: dict[str, Any], identified_by: str) -> None:
        for key, value in item.items():
            if key in CONTROL_KEYS or key == identified_by:
                continue
            if key == "email":
                user.email = value
            elif key == "phone":
                user.phone = value
            elif key == "email_subscribe":
                if value != user.email_subscribe:
                    self._subscription_changes.append({
                        "braze_id": user.braze_id, "external_id": user.external_id, "email": user.email,
                        "from": user.email_subscribe, "to": value, "at": _now(),
                    })
                user.email_subscribe = value
            elif value is None:
                user.attributes.pop(key, None)
            elif isinstance(value, dict) and value and set(value) <= {"add", "remove"}:
                current = user.attributes.get(key)
                array = list(current) if isinstance(current, list) else []
                for element in value.get("add", []):
                    if element not in array:
                        array.append(copy.deepcopy(element))
                removed = value.get("remove", [])
                array = [element for element in array if element not in removed]
                user.attributes[key] = array[-self.array_max_length:]
            elif isinstance(value, dict) and set(value) == {"inc"}:
                current = user.attributes.get(key)
                user.attributes[key] = (current if isinstance(current, (int, float)) else 0) + value["inc"]
            else:
                user.attributes[key] = copy.deepcopy(value)

    def _with_email(self, email: str) -> list[User]:
        wanted = email.strip().lower()
        found = [u for u in self._users.values() if u.email and u.email.strip().lower() == wanted]
        return sorted(found, key=lambda u: u.updated_seq, reverse=True)

    def _deletion_targets(self, kind: str, entry: Any) -> list[User]:
        if kind == "external_ids":
            braze_id = self._by_external.get(entry)
            return [self._users[braze_id]] if braze_id else []
        if kind == "braze_ids":
            return [self._users[entry]] if entry in self._users else []
        if kind == "user_aliases":
            return [u for u in self._users.values() if entry in u.aliases][:1]
        if kind == "email_addresses":
            candidates = self._with_email(entry["email"])
        else:
            candidates = [u for u in self._users.values() if u.phone == entry["phone"]]
        if len(candidates) <= 1:
            return candidates
        for rule in entry["prioritization"]:
            if rule == "identified":
                candidates = [u for u in candidates if u.external_id]
            elif rule == "unidentified":
                candidates = [u for u in candidates if not u.external_id]
            elif rule == "most_recently_updated" and candidates:
                candidates = [max(candidates, key=lambda u: u.updated_seq)]
        return candidates if len(candidates) == 1 else []

    def _remove(self, user: User) -> None:
        self._users.pop(user.braze_id, None)
        if user.external_id is not None:
            self._by_external.pop(user.external_id, None)
        self._deleted.append({**user.as_dict(), "deleted_at": _now()})
