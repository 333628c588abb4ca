"""The Klaviyo simulator's account state and its rules, without HTTP.

What Klaviyo does with a request, as far as a sync can observe it:

* **Profiles** are found by ``id``, else email (case-insensitive), else
  ``external_id``, else ``phone_number``. If the identifiers given point at two
  different profiles, the request conflicts (409 ``duplicate_profile``).
  Upserts merge: an omitted attribute is unchanged, ``null`` clears it; the same
  holds for each key of ``location`` and of ``properties`` (custom properties),
  and ``properties: null`` clears every custom property. ``meta.patch_properties``
  ``unset`` / ``append`` / ``unappend`` work on custom properties.
* **Lists** hold profile ids in the order they joined; adding a member twice
  keeps one membership; removing does not touch consent.
* **Events** are recorded once per (metric, profile, ``unique_id``); without a
  ``unique_id`` Klaviyo uses the event time truncated to the second, so one
  event per profile and metric per second. Repeats are counted, not recorded.
* **Bulk import jobs** run in the background: queued -> processing -> complete,
  per-profile failures end up as import errors, imported profiles join the
  job's lists.
* **Deletion requests** remove every profile with the identifier, its list
  memberships and events, asynchronously.
* **Subscribe / unsubscribe** jobs change email marketing consent and are all
  recorded, so a test can prove a sync never unsubscribed anyone.

Every public method takes the simulator's lock; the query methods
(``profile_by_email``, ``list_members``, ``events``, ...) return copies.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from activation.simulators.base import ApiError

ATTRIBUTES = ("email", "phone_number", "external_id", "first_name", "last_name", "organization", "locale",
              "title", "image")
IDENTIFIERS = ("email", "external_id", "phone_number")
LOCATION = ("address1", "address2", "city", "country", "latitude", "longitude", "region", "zip", "timezone", "ip")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
PHONE = re.compile(r"^\+[1-9]\d{6,14}$")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass
class Profile:
    id: str
    attributes: dict[str, Any]
    location: dict[str, Any]
    properties: dict[str, Any]
    created: datetime
    updated: datetime
    last_event_date: datetime | None = None
    consent: str = "NEVER_SUBSCRIBED"
    consent_timestamp: datetime | None = None
    consent_method: str | None = None
    list_suppressions: list[dict[str, Any]] = field(default_factory=list)

    def identifiers(self) -> dict[str, str]:
        return {key: self.attributes[key] for key in IDENTIFIERS if self.attributes.get(key)}

    def as_dict(self, lists: list[str]) -> dict[str, Any]:
        """Plain data for tests: attributes flattened, with consent and list ids."""
        return {
            "id": self.id,
            **{key: self.attributes.get(key) for key in ATTRIBUTES},
            "location": dict(self.location),
            "properties": copy.deepcopy(self.properties),
            "created": iso(self.created),
            "updated": iso(self.updated),
            "consent": self.consent,
            "lists": lists,
        }


@dataclass
class KList:
    id: str
    name: str
    created: datetime
    updated: datetime
    opt_in_process: str | None = "single_opt_in"
    members: dict[str, datetime] = field(default_factory=dict)


@dataclass
class Event:
    id: str
    metric: str
    profile_id: str
    time: datetime
    properties: dict[str, Any]
    value: float | None
    unique_id: str | None
    received: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "metric": self.metric, "profile_id": self.profile_id, "time": iso(self.time),
                "properties": copy.deepcopy(self.properties), "value": self.value, "unique_id": self.unique_id}


@dataclass
class ImportJob:
    id: str
    payload: list[dict[str, Any]]
    list_ids: list[str]
    created_at: datetime
    status: str = "queued"
    started_at: datetime | None = None
    completed_at: datetime | None = None
    completed_count: int = 0
    failed_count: int = 0
    profile_ids: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total_count(self) -> int:
        return len(self.payload)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "total_count": self.total_count,
                "completed_count": self.completed_count, "failed_count": self.failed_count,
                "list_ids": list(self.list_ids), "profile_ids": list(self.profile_ids),
                "errors": copy.deepcopy(self.errors)}


@dataclass
class DeletionRequest:
    id: str
    identifier: str
    value: str
    requested_at: datetime
    status: str = "queued"
    deleted_profile_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "identifier": self.identifier, "value": self.value,
                "requested_at": iso(self.requested_at), "status": self.status,
                "deleted_profile_ids": list(self.deleted_profile_ids)}


@dataclass
class SubscriptionCall:
    kind: str  # "subscribe" or "unsubscribe"
    list_id: str | None
    profiles: list[dict[str, Any]]
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "list_id": self.list_id, "profiles": copy.deepcopy(self.profiles),
                "at": iso(self.at)}


class KlaviyoState:
    """One Klaviyo account: profiles, lists, events, jobs, deletion requests, subscription calls."""

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self.lock = lock or threading.RLock()
        self.clear()

    def clear(self) -> None:
        """Forget everything (ids start again from 1)."""
        with self.lock:
            self._profiles: dict[str, Profile] = {}
            self._index: dict[str, dict[str, str]] = {key: {} for key in IDENTIFIERS}
            self._lists: dict[str, KList] = {}
            self._metrics: dict[str, str] = {}
            self._events: list[Event] = []
            self._event_keys: set[tuple[str, str, str]] = set()
            self._duplicates: list[dict[str, Any]] = []
            self._jobs: dict[str, ImportJob] = {}
            self._deletions: list[DeletionRequest] = []
            self._subscriptions: list[SubscriptionCall] = []
            self._counters: dict[str, int] = {}

    # ------------------------------------------------------------------ ids

    def _next(self, kind: str) -> int:
        self._counters[kind] = self._counters.get(kind, 0) + 1
        return self._counters[kind]

    def _profile_id(self) -> str:
        return f"01SIM{self._next('profile'):021d}"  # 26 characters, like Klaviyo's ULIDs

    # ------------------------------------------------------------------ profiles

    def find(self, *, profile_id: str | None = None, email: str | None = None, external_id: str | None = None,
             phone_number: str | None = None) -> Profile | None:
        """The profile with any of these identifiers, tried in this order."""
        with self.lock:
            if profile_id:
                return self._profiles.get(profile_id)
            for key, value in (("email", email), ("external_id", external_id), ("phone_number", phone_number)):
                if value:
                    found = self._index[key].get(_norm(key, value))
                    if found:
                        return self._profiles[found]
            return None

    def upsert(self, resource: dict[str, Any], *, create: bool = True, update: bool = True,
               profile_id: str | None = None) -> tuple[Profile, bool]:
        """Create or update a profile from a JSON:API profile resource; returns (profile, created).

        ``create=False``: the profile must exist (PATCH); ``update=False``: it must
        not (POST /api/profiles, 409 otherwise). Raises :class:`ApiError`.
        """
        attributes = dict(resource.get("attributes") or {})
        meta = resource.get("meta") or {}
        with self.lock:
            target_id = profile_id or resource.get("id")
            _check_formats(attributes)
            matches = {
                self._index[key][_norm(key, attributes[key])]
                for key in IDENTIFIERS
                if attributes.get(key) and _norm(key, attributes[key]) in self._index[key]
            }
            if target_id:
                profile = self._profiles.get(target_id)
                if profile is None:
                    raise ApiError(404, "not_found", f"A profile with id {target_id!r} does not exist.",
                                   pointer="/data/id")
                others = matches - {target_id}
                if others:
                    raise _duplicate(others)
            elif len(matches) > 1:
                raise _duplicate(matches, "These identifiers belong to different profiles.")
            else:
                profile = self._profiles.get(next(iter(matches))) if matches else None
            if profile is not None and not update:
                raise _duplicate({profile.id})
            if profile is None and not create:
                raise ApiError(404, "not_found", "The profile does not exist.", pointer="/data/id")
            created = profile is None
            identifiers = dict(profile.identifiers()) if profile else {}
            for key in IDENTIFIERS:
                if key in attributes:
                    if attributes[key]:
                        identifiers[key] = attributes[key]
                    else:
                        identifiers.pop(key, None)
            if not identifiers:
                raise ApiError(400, "invalid", "A profile needs at least one identifier: email, phone_number "
                               "or external_id.", pointer="/data/attributes")
            moment = now()
            if profile is None:
                profile = Profile(self._profile_id(), {}, {}, {}, moment, moment)
                self._profiles[profile.id] = profile
            self._unindex(profile)
            _merge(profile, attributes, meta)
            profile.updated = moment
            self._reindex(profile)
            return profile, created

    def profile_resource(self, profile: Profile, base_url: str, subscriptions: bool = False) -> dict[str, Any]:
        """The JSON:API resource Klaviyo answers with for a profile."""
        base = f"{base_url}/api/profiles/{profile.id}"
        attributes: dict[str, Any] = {key: profile.attributes.get(key) for key in ATTRIBUTES}
        attributes.update({
            "created": iso(profile.created),
            "updated": iso(profile.updated),
            "last_event_date": iso(profile.last_event_date),
            "location": {key: profile.location.get(key) for key in LOCATION},
            "properties": copy.deepcopy(profile.properties),
        })
        if subscriptions:
            attributes["subscriptions"] = self._subscriptions_of(profile)
        return {
            "type": "profile",
            "id": profile.id,
            "attributes": attributes,
            "relationships": {
                name: {"links": {"self": f"{base}/relationships/{name}/", "related": f"{base}/{name}/"}}
                for name in ("lists", "segments")
            },
            "links": {"self": f"{base}/"},
        }

    def profiles_list(self) -> list[Profile]:
        with self.lock:
            return list(self._profiles.values())

    def lists_of(self, profile_id: str) -> list[str]:
        with self.lock:
            return [klist.id for klist in self._lists.values() if profile_id in klist.members]

    # ------------------------------------------------------------------ lists

    def create_list(self, name: str, opt_in_process: str | None = None) -> KList:
        with self.lock:
            moment = now()
            klist = KList(f"SL{self._next('list'):04d}", name, moment, moment, opt_in_process or "single_opt_in")
            self._lists[klist.id] = klist
            return klist

    def ensure_list(self, list_id: str, name: str) -> KList:
        """The list with this id, created with this name if it does not exist (lists an account already has)."""
        with self.lock:
            if list_id not in self._lists:
                moment = now()
                self._lists[list_id] = KList(list_id, name, moment, moment, "single_opt_in")
            return self._lists[list_id]

    def get_list(self, list_id: str) -> KList:
        with self.lock:
            klist = self._lists.get(list_id)
            if klist is None:
                raise ApiError(404, "not_found", f"A list with id {list_id!r} does not exist.", parameter="id")
            return klist

    def all_lists(self) -> list[KList]:
        with self.lock:
            return list(self._lists.values())

    def rename_list(self, list_id: str, name: str | None, opt_in_process: str | None) -> KList:
        with self.lock:
            klist = self.get_list(list_id)
            if name is not None:
                klist.name = name
            if opt_in_process is not None:
                klist.opt_in_process = opt_in_process
            klist.updated = now()
            return klist

    def delete_list(self, list_id: str) -> None:
        with self.lock:
            self.get_list(list_id)
            del self._lists[list_id]

    def list_resource(self, klist: KList, base_url: str) -> dict[str, Any]:
        base = f"{base_url}/api/lists/{klist.id}"
        return {
            "type": "list",
            "id": klist.id,
            "attributes": {"name": klist.name, "created": iso(klist.created), "updated": iso(klist.updated),
                           "opt_in_process": klist.opt_in_process},
            "relationships": {
                name: {"links": {"self": f"{base}/relationships/{name}/", "related": f"{base}/{name}/"}}
                for name in ("profiles", "tags", "flow-triggers")
            },
            "links": {"self": f"{base}/"},
        }

    def add_members(self, list_id: str, profile_ids: Iterable[str], pointer: str = "/data") -> None:
        """Add existing profiles to a list (all or nothing: an unknown id refuses the whole call)."""
        with self.lock:
            klist = self.get_list(list_id)
            ids = list(profile_ids)
            for index, profile_id in enumerate(ids):
                if profile_id not in self._profiles:
                    raise ApiError(404, "not_found", f"A profile with id {profile_id!r} does not exist.",
                                   pointer=f"{pointer}/{index}/id")
            moment = now()
            for profile_id in ids:
                klist.members.setdefault(profile_id, moment)

    def remove_members(self, list_id: str, profile_ids: Iterable[str]) -> None:
        """Remove profiles from a list (ids that are not members are ignored); consent is untouched."""
        with self.lock:
            klist = self.get_list(list_id)
            for profile_id in profile_ids:
                klist.members.pop(profile_id, None)

    # ------------------------------------------------------------------ events

    def record_event(self, attributes: dict[str, Any]) -> tuple[Event | None, bool]:
        """Record one event (creating or updating its profile); returns (event, duplicate)."""
        with self.lock:
            metric = attributes["metric"]["data"]["attributes"]["name"]
            profile_data = attributes["profile"]["data"]
            profile_attributes = profile_data.get("attributes") or {}
            if not (profile_data.get("id") or any(profile_attributes.get(k) for k in IDENTIFIERS)
                    or profile_attributes.get("anonymous_id")):
                raise ApiError(400, "invalid", "The event's profile needs an identifier: id, email, phone_number "
                               "or external_id.", pointer="/data/attributes/profile/data")
            try:
                profile, _ = self.upsert(profile_data)
            except ApiError as error:
                error.pointer = "/data/attributes/profile" + (error.pointer or "/data")
                raise
            received = now()
            moment = _parse_time(attributes.get("time")) or received
            unique = attributes.get("unique_id") or moment.isoformat()
            key = (metric, profile.id, unique)
            self._metrics.setdefault(metric, f"M{self._next('metric'):05d}")
            if key in self._event_keys:
                self._duplicates.append({"metric": metric, "profile_id": profile.id,
                                         "unique_id": attributes.get("unique_id"), "received": iso(received)})
                return None, True
            self._event_keys.add(key)
            event = Event(f"EV{self._next('event'):08d}", metric, profile.id, moment,
                          copy.deepcopy(attributes.get("properties") or {}), attributes.get("value"),
                          attributes.get("unique_id"), received)
            self._events.append(event)
            profile.last_event_date = max(profile.last_event_date or moment, moment)
            return event, False

    # ------------------------------------------------------------------ bulk import jobs

    def create_job(self, profiles: list[dict[str, Any]], list_ids: list[str], *, owned: bool = False) -> ImportJob:
        """A queued job of ``profiles``; they are copied unless ``owned`` (the caller hands them over and keeps
        no reference, as the API handler does with a request body it parsed for this request alone)."""
        with self.lock:
            for index, list_id in enumerate(list_ids):
                if list_id not in self._lists:
                    raise ApiError(404, "not_found", f"A list with id {list_id!r} does not exist.",
                                   pointer=f"/data/relationships/lists/data/{index}/id")
            payload = profiles if owned else copy.deepcopy(profiles)
            job = ImportJob(f"JOB{self._next('job'):09d}", payload, list(list_ids), now())
            self._jobs[job.id] = job
            return job

    def get_job(self, job_id: str) -> ImportJob:
        with self.lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise ApiError(404, "not_found", f"A profile bulk import job with id {job_id!r} does not exist.",
                               parameter="id")
            return job

    def all_jobs(self) -> list[ImportJob]:
        with self.lock:
            return list(self._jobs.values())

    def start_job(self, job: ImportJob) -> None:
        with self.lock:
            if self._jobs.get(job.id) is not job:
                return  # the state was reset while the job waited
            if job.status == "queued":
                job.status = "processing"
                job.started_at = now()

    def finish_job(self, job: ImportJob, failing: set[int], failure_detail: str) -> None:
        """Import every profile of ``job`` except the ``failing`` indexes, which become import errors."""
        with self.lock:
            if self._jobs.get(job.id) is not job:
                return  # the state was reset while the job waited
            self.start_job(job)
            imported: list[str] = []
            for index, resource in enumerate(job.payload):
                pointer = f"/data/attributes/profiles/data/{index}"
                if index in failing:
                    self._import_error(job, index, resource, "invalid", failure_detail, pointer)
                    continue
                try:
                    profile, _ = self.upsert(resource)
                except ApiError as error:
                    self._import_error(job, index, resource, error.code, error.detail,
                                       pointer + (error.pointer or "").removeprefix("/data"))
                    continue
                imported.append(profile.id)
            job.profile_ids = list(dict.fromkeys(imported))
            for list_id in job.list_ids:
                if list_id in self._lists:
                    self.add_members(list_id, [p for p in job.profile_ids if p in self._profiles])
            job.completed_count = len(imported)
            job.failed_count = len(job.errors)
            job.status = "complete"
            job.completed_at = now()

    def _import_error(self, job: ImportJob, index: int, resource: dict[str, Any], code: str, detail: str,
                      pointer: str) -> None:
        job.errors.append({
            "type": "import-error",
            "id": f"{job.id}-E{len(job.errors) + 1:05d}",
            "attributes": {"code": code, "title": _TITLES.get(code, "Invalid input."), "detail": detail,
                           "source": {"pointer": pointer}, "original_payload": copy.deepcopy(resource)},
        })

    def job_resource(self, job: ImportJob, base_url: str) -> dict[str, Any]:
        base = f"{base_url}/api/profile-bulk-import-jobs/{job.id}"
        return {
            "type": "profile-bulk-import-job",
            "id": job.id,
            "attributes": {
                "status": job.status,
                "created_at": iso(job.created_at),
                "total_count": job.total_count,
                "completed_count": job.completed_count,
                "failed_count": job.failed_count,
                "completed_at": iso(job.completed_at),
                "expires_at": iso(job.created_at + timedelta(days=7)),
                "started_at": iso(job.started_at),
            },
            "relationships": {
                "lists": {"data": [{"type": "list", "id": list_id} for list_id in job.list_ids],
                          "links": {"self": f"{base}/relationships/lists/", "related": f"{base}/lists/"}},
                "profiles": {"links": {"self": f"{base}/relationships/profiles/", "related": f"{base}/profiles/"}},
                "import-errors": {"links": {"related": f"{base}/import-errors/"}},
            },
            "links": {"self": f"{base}/"},
        }

    # ------------------------------------------------------------------ deletion

    def request_deletion(self, identifier: str, value: str) -> DeletionRequest:
        with self.lock:
            request = DeletionRequest(f"DEL{self._next('deletion'):06d}", identifier, value, now())
            self._deletions.append(request)
            return request

    def complete_deletion(self, request: DeletionRequest) -> None:
        """Delete every profile with the request's identifier: profile, memberships, events."""
        with self.lock:
            if not any(known is request for known in self._deletions):
                return  # the state was reset while the request waited
            if request.identifier == "id":
                ids = [request.value] if request.value in self._profiles else []
            else:
                key = request.identifier
                ids = [p.id for p in self._profiles.values()
                       if p.attributes.get(key) and _norm(key, p.attributes[key]) == _norm(key, request.value)]
            for profile_id in ids:
                profile = self._profiles.pop(profile_id)
                self._unindex(profile)
                for klist in self._lists.values():
                    klist.members.pop(profile_id, None)
            gone = set(ids)
            self._events = [event for event in self._events if event.profile_id not in gone]
            self._event_keys = {key for key in self._event_keys if key[1] not in gone}
            request.deleted_profile_ids = ids
            request.status = "complete"

    # ------------------------------------------------------------------ consent

    def subscription_job(self, kind: str, profiles: list[dict[str, Any]], list_id: str | None) -> None:
        """Apply and record a subscribe or unsubscribe bulk job (email marketing consent)."""
        with self.lock:
            if list_id is not None:
                self.get_list(list_id)
            self._subscriptions.append(SubscriptionCall(kind, list_id, [
                {"id": p.get("id"), **{k: (p.get("attributes") or {}).get(k) for k in ("email", "phone_number")}}
                for p in profiles], now()))
            for index, resource in enumerate(profiles):
                attributes = resource.get("attributes") or {}
                identity = {"type": "profile", "attributes": {k: attributes[k] for k in ("email", "phone_number")
                                                              if attributes.get(k)}}
                if resource.get("id"):
                    identity["id"] = resource["id"]
                try:
                    if kind == "subscribe":
                        profile, _ = self.upsert(identity)
                    else:
                        found = self.find(profile_id=resource.get("id"), email=attributes.get("email"),
                                          phone_number=attributes.get("phone_number"))
                        if found is None:
                            continue
                        profile = found
                except ApiError as error:
                    error.pointer = f"/data/attributes/profiles/data/{index}" + (error.pointer or "").removeprefix(
                        "/data")
                    raise
                email_marketing = ((attributes.get("subscriptions") or {}).get("email") or {}).get("marketing")
                moment = now()
                if kind == "subscribe":
                    if email_marketing:
                        profile.consent = "SUBSCRIBED"
                        profile.consent_timestamp = _parse_time(email_marketing.get("consented_at")) or moment
                        profile.consent_method = "API"
                        profile.list_suppressions = []
                    if list_id is not None:
                        self._lists[list_id].members.setdefault(profile.id, moment)
                elif list_id is not None and profile.id in self._lists[list_id].members:
                    self._lists[list_id].members.pop(profile.id)
                    profile.list_suppressions.append({"list_id": list_id, "reason": "USER_SUPPRESSED",
                                                      "timestamp": iso(moment)})
                elif email_marketing:
                    profile.consent = "UNSUBSCRIBED"
                    profile.consent_timestamp = moment
                profile.updated = moment

    # ------------------------------------------------------------------ queries (tests, admin)

    def profile_by_email(self, email: str) -> dict[str, Any] | None:
        """The profile with this email (case-insensitive) as plain data, or None."""
        with self.lock:
            profile = self.find(email=email)
            return profile.as_dict(self.lists_of(profile.id)) if profile else None

    def profile(self, profile_id: str) -> dict[str, Any] | None:
        with self.lock:
            profile = self._profiles.get(profile_id)
            return profile.as_dict(self.lists_of(profile.id)) if profile else None

    def profiles(self) -> list[dict[str, Any]]:
        with self.lock:
            memberships: dict[str, list[str]] = {}
            for klist in self._lists.values():
                for member in klist.members:
                    memberships.setdefault(member, []).append(klist.id)
            return [p.as_dict(memberships.get(p.id, [])) for p in self._profiles.values()]

    def profile_count(self) -> int:
        with self.lock:
            return len(self._profiles)

    def lists(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{"id": k.id, "name": k.name, "members": len(k.members)} for k in self._lists.values()]

    def list_by_name(self, name: str) -> str | None:
        """The id of the first list called ``name``."""
        with self.lock:
            return next((k.id for k in self._lists.values() if k.name == name), None)

    def list_members(self, list_id: str) -> list[str]:
        """Profile ids in the list, in the order they joined."""
        with self.lock:
            return list(self.get_list(list_id).members)

    def list_member_emails(self, list_id: str) -> list[str | None]:
        with self.lock:
            return [self._profiles[p].attributes.get("email") for p in self.get_list(list_id).members]

    def events(self, metric: str | None = None) -> list[dict[str, Any]]:
        """Recorded events (duplicates excluded), optionally of one metric."""
        with self.lock:
            return [e.as_dict() for e in self._events if metric is None or e.metric == metric]

    @property
    def duplicate_events(self) -> int:
        """How many events were received again (same metric, profile and unique_id) and not recorded."""
        with self.lock:
            return len(self._duplicates)

    def duplicates(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self._duplicates)

    def jobs(self) -> list[dict[str, Any]]:
        with self.lock:
            return [job.as_dict() for job in self._jobs.values()]

    def deletion_requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return [request.as_dict() for request in self._deletions]

    def subscription_calls(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every subscribe / unsubscribe bulk job received (``kind``: "subscribe" or "unsubscribe")."""
        with self.lock:
            return [call.as_dict() for call in self._subscriptions if kind is None or call.kind == kind]

    def snapshot(self) -> dict[str, Any]:
        """Everything, as JSON-friendly data (the admin /state endpoint)."""
        with self.lock:
            return {
                "profiles": self.profiles(),
                "lists": [{"id": k.id, "name": k.name, "opt_in_process": k.opt_in_process,
                           "members": list(k.members)} for k in self._lists.values()],
                "metrics": dict(self._metrics),
                "events": self.events(),
                "duplicate_events": self.duplicate_events,
                "duplicates": self.duplicates(),
                "jobs": [{**job.as_dict(), "errors": len(job.errors)} for job in self._jobs.values()],
                "deletion_requests": self.deletion_requests(),
                "subscription_calls": self.subscription_calls(),
            }

    def summary(self) -> dict[str, Any]:
        """Counts only (cheap for large states)."""
        with self.lock:
            return {"profiles": len(self._profiles), "lists": {k.id: len(k.members) for k in self._lists.values()},
                    "events": len(self._events), "duplicate_events": len(self._duplicates),
                    "jobs": {s: sum(1 for j in self._jobs.values() if j.status == s)
                             for s in ("queued", "processing", "complete")},
                    "deletion_requests": len(self._deletions),
                    "subscription_calls": {k: sum(1 for c in self._subscriptions if c.kind == k)
                                           for k in ("subscribe", "unsubscribe")}}

    # ------------------------------------------------------------------ internals

    def _unindex(self, profile: Profile) -> None:
        for key in IDENTIFIERS:
            value = profile.attributes.get(key)
            if value and self._index[key].get(_norm(key, value)) == profile.id:
                del self._index[key][_norm(key, value)]

    def _reindex(self, profile: Profile) -> None:
        for key in IDENTIFIERS:
            value = profile.attributes.get(key)
            if value:
                self._index[key][_norm(key, value)] = profile.id

    def _subscriptions_of(self, profile: Profile) -> dict[str, Any]:
        return {"email": {"marketing": {
            "can_receive_email_marketing": profile.consent == "SUBSCRIBED",
            "consent": profile.consent,
            "consent_timestamp": iso(profile.consent_timestamp),
            "last_updated": iso(profile.consent_timestamp),
            "method": profile.consent_method,
            "method_detail": "",
            "suppression": [],
            "list_suppressions": copy.deepcopy(profile.list_suppressions),
        }}}


_TITLES = {"invalid": "Invalid input.", "not_found": "Not found.", "duplicate_profile": "Conflict."}


def _norm(key: str, value: str) -> str:
    return value.strip().lower() if key == "email" else value


def _check_formats(attributes: dict[str, Any]) -> None:
    email = attributes.get("email")
    if email and not EMAIL.match(email):
        raise ApiError(400, "invalid", f"Invalid email address {email!r}.", pointer="/data/attributes/email")
    phone = attributes.get("phone_number")
    if phone and not PHONE.match(phone):
        raise ApiError(400, "invalid", f"Invalid phone number {phone!r}: use E.164, e.g. +15005550006.",
                       pointer="/data/attributes/phone_number")


def _duplicate(ids: set[str], detail: str = "A profile already exists with one of these identifiers.") -> ApiError:
    return ApiError(409, "duplicate_profile", detail, title="Conflict.", pointer="/data/attributes",
                    meta={"duplicate_profile_id": sorted(ids)[0]})


def _merge(profile: Profile, attributes: dict[str, Any], meta: dict[str, Any]) -> None:
    for key in ATTRIBUTES:
        if key in attributes:
            if attributes[key] is None:
                profile.attributes.pop(key, None)
            else:
                profile.attributes[key] = attributes[key]
    if "location" in attributes:
        _merge_map(profile.location, attributes["location"])
    if "properties" in attributes:
        _merge_map(profile.properties, attributes["properties"])
    patch = (meta or {}).get("patch_properties") or {}
    unset = patch.get("unset")
    for key in [unset] if isinstance(unset, str) else unset or []:
        profile.properties.pop(key, None)
    for key, value in (patch.get("append") or {}).items():
        current = profile.properties.get(key)
        items = current if isinstance(current, list) else ([] if current is None else [current])
        profile.properties[key] = items + (value if isinstance(value, list) else [value])
    for key, value in (patch.get("unappend") or {}).items():
        current = profile.properties.get(key)
        if isinstance(current, list):
            drop = value if isinstance(value, list) else [value]
            profile.properties[key] = [item for item in current if item not in drop]


_SCALARS = frozenset({str, int, float, bool})


def _merge_map(target: dict[str, Any], changes: dict[str, Any] | None) -> None:
    if changes is None:
        target.clear()
        return
    for key, value in changes.items():
        if value is None:
            target.pop(key, None)
        else:  # deepcopy returns these immutable scalars as they are: skip its call
            target[key] = value if type(value) in _SCALARS else copy.deepcopy(value)


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)
