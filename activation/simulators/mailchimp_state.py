"""A Mailchimp account's state and rules: audiences, members, merge fields, tags, events, deletions.

Rules the simulator enforces (the facts of shared/docs/ESP_CONTRACTS.md):

- A member is found by its subscriber hash, the MD5 hex of the lowercased email.
- Upserts (batch ``POST /lists/{id}`` and ``PUT .../members/{hash}``) use
  ``status_if_new`` for a new member and leave an existing member's status
  alone. An explicit ``status`` changes it, except that an ``unsubscribed`` or
  ``cleaned`` member cannot be made ``subscribed``/``pending``: the answer is
  "Member In Compliance State" and the attempt is kept in
  :attr:`MailchimpState.compliance_refusals`; every status a request did
  change on an existing member is in :attr:`MailchimpState.status_changes`
  (a sync should leave both empty). An archived member that had
  unsubscribed or been cleaned is in the same compliance state: re-adding it
  as subscribed is refused too (whether by ``status`` or ``status_if_new``).
- Merge fields must exist on the audience; number fields take numbers; text
  fields at most 255 characters. An empty string clears a field; an omitted
  one is left unchanged.
- Tags are static segments: ``POST .../members/{hash}/tags`` makes a tag
  ``active`` or ``inactive`` for one member (creating the tag on first use);
  ``POST /lists/{id}/segments/{segment_id}`` adds and removes up to 500
  members each. Removing a tag never changes a member's subscription status.
- Member events are recorded as sent: Mailchimp does not deduplicate them.
- A permanently deleted address is gone with its tags and events, and can
  never be re-imported.

Every method that changes state is called with the simulator's lock held.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from activation.simulators.base import ApiError

COMPLIANCE_STATUSES = ("unsubscribed", "cleaned")
SUBSCRIBING = ("subscribed", "pending")
TEXT_LIMIT = 255
DEFAULT_MERGE_FIELDS = (("FNAME", "First Name", "text"), ("LNAME", "Last Name", "text"))
NOT_A_MEMBER = "Email address is not a member of this audience"


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: MD5 hex of the lowercased address."""
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


class MemberError(Exception):
    """One member of a batch refused (rendered as an entry of the batch answer's ``errors``)."""

    def __init__(self, email: str, error: str, code: str = "ERROR_GENERIC", field: str = "",
                 field_message: str = "", title: str = "Invalid Resource", status: int = 400) -> None:
        super().__init__(error)
        self.email, self.error, self.code = email, error, code
        self.field, self.field_message, self.title, self.status = field, field_message, title, status

    def entry(self) -> dict[str, str]:
        return {"email_address": self.email, "error": self.error, "error_code": self.code,
                "field": self.field, "field_message": self.field_message}


@dataclass
class Member:
    id: str
    email_address: str
    status: str
    merge_fields: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # name -> active | inactive (inactive: was removed)
    language: str = ""
    vip: bool = False
    email_type: str = "html"
    created: str = field(default_factory=now_iso)
    updated: str = field(default_factory=now_iso)

    def active_tags(self) -> list[str]:
        return sorted(name for name, status in self.tags.items() if status == "active")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "email_address": self.email_address, "status": self.status,
            "merge_fields": dict(self.merge_fields), "tags": dict(self.tags),
            "active_tags": self.active_tags(), "language": self.language, "vip": self.vip,
        }


@dataclass
class MergeField:
    merge_id: int
    tag: str
    name: str
    type: str
    required: bool = False
    default_value: str = ""
    public: bool = False


@dataclass
class Segment:
    id: int
    name: str
    type: str = "static"
    created_at: str = field(default_factory=now_iso)


@dataclass
class Audience:
    id: str
    name: str
    members: dict[str, Member] = field(default_factory=dict)
    archived: dict[str, tuple[str, str]] = field(default_factory=dict)  # hash -> (email, status before archiving)
    merge_fields: dict[str, MergeField] = field(default_factory=dict)
    segments: dict[int, Segment] = field(default_factory=dict)
    permanently_deleted: set[str] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)
    next_merge_id: int = 1

    def segment_named(self, name: str) -> Segment | None:
        return next((s for s in self.segments.values() if s.name == name), None)


class MailchimpState:
    """Audiences and what happened to them; read by tests through the helpers at the bottom."""

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self.lock = lock or threading.RLock()
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self.audiences: dict[str, Audience] = {}
            self.compliance_refusals: list[dict[str, Any]] = []
            self.status_changes: list[dict[str, Any]] = []  # an existing member's status changed by a request
            self._next_segment = 1001

    # ------------------------------------------------------------------ audiences and setup helpers

    def add_audience(self, list_id: str, name: str | None = None) -> Audience:
        """An audience with Mailchimp's default merge fields (FNAME, LNAME); existing ones are kept."""
        with self.lock:
            audience = self.audiences.get(list_id)
            if audience is None:
                audience = self.audiences[list_id] = Audience(list_id, name or list_id)
                for tag, label, kind in DEFAULT_MERGE_FIELDS:
                    self._new_merge_field(audience, tag, label, kind)
            return audience

    def audience(self, list_id: str) -> Audience:
        audience = self.audiences.get(list_id)
        if audience is None:
            raise ApiError(404, "Resource Not Found", f"The requested resource could not be found: audience "
                           f"{list_id!r} does not exist.", title="Resource Not Found")
        return audience

    def add_member(self, list_id: str, email: str, status: str = "subscribed",
                   merge_fields: dict[str, Any] | None = None, tags: tuple[str, ...] = (),
                   archived: bool = False) -> None:
        """Seed a member (tests): e.g. one who unsubscribed, or an archived one in compliance state."""
        with self.lock:
            audience = self.add_audience(list_id)
            key = subscriber_hash(email)
            if archived:
                audience.archived[key] = (email.lower(), status)
                return
            member = Member(key, email.lower(), status, dict(merge_fields or {}))
            for tag in tags:
                self._segment(audience, tag)
                member.tags[tag] = "active"
            audience.members[key] = member

    # ------------------------------------------------------------------ members

    def upsert(self, list_id: str, body: dict[str, Any], *, update_existing: bool = True,
               operation: str = "batch_subscribe", expect_hash: str | None = None) -> tuple[Member, bool]:
        """Create or update one member from a member body; raises MemberError. Returns (member, created)."""
        audience = self.audience(list_id)
        email = str(body["email_address"]).strip()
        key = subscriber_hash(email)
        if expect_hash is not None and expect_hash != key:
            raise MemberError(email, "The subscriber hash in the path is not the MD5 of the lowercased "
                              "email_address.", field="email_address",
                              field_message="md5(lowercase(email_address)) must equal the subscriber hash")
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise MemberError(email, f"{email} looks fake or invalid, please enter a real email address.",
                              field="email_address", field_message="Invalid email address")
        if email.lower() in audience.permanently_deleted:
            raise MemberError(email, f"{email} was permanently deleted and cannot be re-imported. The contact "
                              "must re-subscribe to get back on the list.", title="Forgotten Email Not Subscribed")
        member = audience.members.get(key)
        requested = body.get("status")
        if member is not None:
            if not update_existing:
                raise MemberError(email, f"{email} is already a list member. Use PUT to insert or update list "
                                  "members.", code="ERROR_CONTACT_EXISTS")
            if requested and requested != member.status:
                self._refuse_compliance(audience, email, member.status, requested, operation)
            merge = self._merge_fields(audience, email, body.get("merge_fields") or {})
            if requested and requested != member.status:
                self.status_changes.append({"list_id": audience.id, "email": member.email_address,
                                            "from": member.status, "to": requested, "operation": operation,
                                            "at": now_iso()})
                member.status = requested
            member.merge_fields.update(merge)
            self._apply_optional(member, body)
            member.updated = now_iso()
            return member, False
        status = requested or body.get("status_if_new")
        if not status:
            raise MemberError(email, "A new member needs status or status_if_new.", field="status_if_new",
                              field_message="required for a new member")
        previous = audience.archived.get(key)
        if previous is not None:
            self._refuse_compliance(audience, email, previous[1], status, operation)
        merge = self._merge_fields(audience, email, body.get("merge_fields") or {})
        member = Member(key, email.lower(), status, {k: v for k, v in merge.items() if v != ""})
        self._apply_optional(member, body)
        audience.archived.pop(key, None)
        audience.members[key] = member
        return member, True

    def _refuse_compliance(self, audience: Audience, email: str, current: str, requested: str,
                           operation: str) -> None:
        if current in COMPLIANCE_STATUSES and requested in SUBSCRIBING:
            self.compliance_refusals.append({"list_id": audience.id, "email": email.lower(), "current": current,
                                             "requested": requested, "operation": operation, "at": now_iso()})
            raise MemberError(email, f"{email} is in a compliance state due to unsubscribe, bounce, or compliance "
                              "review and cannot be subscribed.", title="Member In Compliance State")

    @staticmethod
    def _apply_optional(member: Member, body: dict[str, Any]) -> None:
        for name in ("language", "vip", "email_type"):
            if name in body:
                setattr(member, name, body[name])

    def _merge_fields(self, audience: Audience, email: str, values: dict[str, Any]) -> dict[str, Any]:
        checked: dict[str, Any] = {}
        for tag, value in values.items():
            definition = audience.merge_fields.get(tag)
            if definition is None:
                raise MemberError(email, "Your merge fields were invalid.", field=tag,
                                  field_message=f"The merge field {tag} does not exist on the audience.")
            if value == "":
                checked[tag] = ""
            elif definition.type == "number":
                try:
                    checked[tag] = float(value) if not isinstance(value, (int, float)) else value
                except (TypeError, ValueError):
                    raise MemberError(email, "Your merge fields were invalid.", field=tag,
                                      field_message="Please enter a number") from None
            elif definition.type == "address":
                checked[tag] = value
            else:
                text = value if isinstance(value, str) else str(value)
                if len(text) > TEXT_LIMIT:
                    raise MemberError(email, "Your merge fields were invalid.", field=tag,
                                      field_message=f"Value must be {TEXT_LIMIT} characters or less")
                checked[tag] = text
        return checked

    def member_at(self, list_id: str, key: str) -> Member:
        member = self.audience(list_id).members.get(key)
        if member is None:
            raise ApiError(404, "Resource Not Found", "The requested resource could not be found.",
                           title="Resource Not Found")
        return member

    def update_tags(self, list_id: str, key: str, tags: list[dict[str, str]]) -> None:
        audience = self.audience(list_id)
        member = self.member_at(list_id, key)
        for tag in tags:
            name, status = tag["name"], tag["status"]
            if status == "active":
                self._segment(audience, name)
                member.tags[name] = "active"
            elif member.tags.get(name) == "active":
                member.tags[name] = "inactive"

    def record_event(self, list_id: str, key: str, body: dict[str, Any]) -> None:
        member = self.member_at(list_id, key)
        self.audience(list_id).events.append({
            "list_id": list_id, "email": member.email_address, "name": body["name"],
            "properties": dict(body.get("properties") or {}), "occurred_at": body.get("occurred_at"),
            "is_syncing": bool(body.get("is_syncing", False)), "received_at": now_iso(),
        })

    def delete_permanent(self, list_id: str, key: str) -> None:
        audience = self.audience(list_id)
        member = audience.members.pop(key, None)
        archived = audience.archived.pop(key, None)
        if member is None and archived is None:
            raise ApiError(404, "Resource Not Found", "The requested resource could not be found.",
                           title="Resource Not Found")
        email = member.email_address if member is not None else archived[0]  # type: ignore[index]
        audience.permanently_deleted.add(email)
        audience.events = [event for event in audience.events if event["email"] != email]

    # ------------------------------------------------------------------ merge fields and segments

    def _new_merge_field(self, audience: Audience, tag: str, name: str, kind: str, **extra: Any) -> MergeField:
        merge = MergeField(audience.next_merge_id, tag, name, kind, **extra)
        audience.next_merge_id += 1
        audience.merge_fields[tag] = merge
        return merge

    def create_merge_field(self, list_id: str, body: dict[str, Any]) -> MergeField:
        audience = self.audience(list_id)
        tag = body.get("tag") or _tag_from_name(body["name"], audience)
        if tag in audience.merge_fields:
            raise ApiError(400, "Invalid Resource", f"A Merge Field with the tag \"{tag}\" already exists for this "
                           "list.", title="Invalid Resource", pointer="tag")
        extra = {k: body[k] for k in ("required", "default_value", "public") if k in body}
        return self._new_merge_field(audience, tag, body["name"], body["type"], **extra)

    def _segment(self, audience: Audience, name: str) -> Segment:
        segment = audience.segment_named(name)
        if segment is None:
            segment = Segment(self._next_segment, name)
            self._next_segment += 1
            audience.segments[segment.id] = segment
        return segment

    def create_segment(self, list_id: str, body: dict[str, Any]) -> Segment:
        audience = self.audience(list_id)
        if audience.segment_named(body["name"]) is not None:
            raise ApiError(400, "Invalid Resource", f"Sorry, a segment or tag named \"{body['name']}\" already "
                           "exists.", title="Invalid Resource", pointer="name")
        segment = self._segment(audience, body["name"])
        if body.get("static_segment"):
            self.batch_segment(list_id, segment.id, body["static_segment"], [])
        return segment

    def segment(self, list_id: str, segment_id: str) -> Segment:
        audience = self.audience(list_id)
        segment = audience.segments.get(int(segment_id)) if segment_id.isdigit() else None
        if segment is None:
            raise ApiError(404, "Resource Not Found", "The requested segment was not found.",
                           title="Resource Not Found")
        return segment

    def batch_segment(self, list_id: str, segment_id: int, adds: list[str],
                      removes: list[str]) -> dict[str, Any]:
        """Static-segment (tag) membership changes; non-members are errors, grouped by message."""
        audience = self.audience(list_id)
        segment = audience.segments[segment_id]
        added, removed, missing = [], [], []
        for emails, status, into in ((adds, "active", added), (removes, "inactive", removed)):
            for email in emails:
                member = audience.members.get(subscriber_hash(email))
                if member is None:
                    missing.append(email)
                    continue
                if status == "active":
                    member.tags[segment.name] = "active"
                elif member.tags.get(segment.name) == "active":
                    member.tags[segment.name] = "inactive"
                into.append(member)
        errors = [{"email_addresses": missing, "error": NOT_A_MEMBER}] if missing else []
        return {"added": added, "removed": removed, "errors": errors}

    def segment_member_count(self, audience: Audience, segment: Segment) -> int:
        return sum(1 for m in audience.members.values() if m.tags.get(segment.name) == "active")

    # ------------------------------------------------------------------ queries for tests and the admin API

    def member(self, email: str, list_id: str | None = None) -> dict[str, Any] | None:
        """The member with this address (in ``list_id``, else in the first audience that has it), or None."""
        key = subscriber_hash(email)
        with self.lock:
            for audience in self.audiences.values():
                if list_id is not None and audience.id != list_id:
                    continue
                member = audience.members.get(key)
                if member is not None:
                    return {**member.as_dict(), "list_id": audience.id}
        return None

    def members(self, list_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m.as_dict() for m in self.audience(list_id).members.values()]

    def tag_members(self, list_id: str, tag: str) -> set[str]:
        """Addresses whose tag ``tag`` is active."""
        with self.lock:
            return {m.email_address for m in self.audience(list_id).members.values() if m.tags.get(tag) == "active"}

    def merge_field_tags(self, list_id: str) -> dict[str, str]:
        """Merge field tag -> type."""
        with self.lock:
            return {tag: f.type for tag, f in self.audience(list_id).merge_fields.items()}

    def events(self, list_id: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for a in self.audiences.values() if list_id in (None, a.id) for e in a.events
                    if name in (None, e["name"])]

    def duplicate_events(self) -> int:
        """Events recorded more than once (same audience, address, name, time and properties)."""
        seen: set[str] = set()
        duplicates = 0
        for event in self.events():
            key = repr((event["list_id"], event["email"], event["name"], event["occurred_at"],
                        sorted(event["properties"].items())))
            duplicates += key in seen
            seen.add(key)
        return duplicates

    def permanently_deleted(self, list_id: str | None = None) -> set[str]:
        with self.lock:
            return {e for a in self.audiences.values() if list_id in (None, a.id) for e in a.permanently_deleted}

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "audiences": [
                    {
                        "id": a.id, "name": a.name,
                        "members": [m.as_dict() for m in a.members.values()],
                        "archived": [{"email": e, "status": s} for e, s in a.archived.values()],
                        "merge_fields": [vars(f).copy() for f in a.merge_fields.values()],
                        "tags": [{"id": s.id, "name": s.name, "member_count": self.segment_member_count(a, s)}
                                 for s in a.segments.values()],
                        "events": [dict(e) for e in a.events],
                        "permanently_deleted": sorted(a.permanently_deleted),
                    }
                    for a in self.audiences.values()
                ],
                "compliance_refusals": list(self.compliance_refusals),
                "status_changes": list(self.status_changes),
            }

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "audiences": [
                    {"id": a.id, "members": len(a.members),
                     "by_status": _count(m.status for m in a.members.values()),
                     "merge_fields": len(a.merge_fields), "tags": len(a.segments), "events": len(a.events),
                     "permanently_deleted": len(a.permanently_deleted)}
                    for a in self.audiences.values()
                ],
                "compliance_refusals": len(self.compliance_refusals),
                "status_changes": len(self.status_changes),
            }


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _tag_from_name(name: str, audience: Audience) -> str:
    """Mailchimp derives a tag from the name when none is given (MMERGE<n> when it cannot)."""
    tag = re.sub(r"[^A-Z0-9_]", "", name.upper())[:10]
    return tag if tag and tag not in audience.merge_fields else f"MMERGE{audience.next_merge_id}"
