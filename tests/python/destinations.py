"""One harness per destination, so the reliability suite runs unchanged against every one.

Each class starts its simulator (port 0, rate limits off, seeded, with the
lists/audiences its syncs file needs), says which environment variables point
the syncs file at it, and reads back what the ESP holds, in one shape:

* ``profile(email)``: ``{"first_name", "cart_value"}`` as the ESP stores them
  (Klaviyo profile + properties, Braze attributes, Mailchimp merge fields
  FNAME/CARTVALUE, the webhook receiver's merged record), or None;
* ``memberships()``: list or segment -> emails (Klaviyo lists, Braze boolean
  segment attributes that are true, Mailchimp tags that are active, the
  webhook receiver's list view), keyed like the syncs file's ``lists`` values;
* ``events()``: one key per event the ESP holds, duplicates included, and
  ``event_key(event_id, email, time)``: the key the export's row should have.
  Klaviyo and the webhook receiver keep the event's unique id; Braze and
  Mailchimp keep no id, so an event is (email, time). Klaviyo deduplicates by
  unique id (a resend is not kept twice, by design), so its list is what it
  holds; the others keep every event they were sent;
* ``erased()``: addresses erased at the ESP (asked for, or for Mailchimp
  deleted: Mailchimp answers 404 for an address it never had);
* ``subscription_changes()``: every consent change a request made (must stay 0);
* ``requests()``: API requests the simulator answered (faults included).

Emails are compared lowercased: every ESP here matches addresses case-insensitively.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from activation.config import Mode, SyncsFile, load_syncs
from activation.simulators.base import SimulatorServer
from activation.simulators.braze import BrazeSimulator
from activation.simulators.klaviyo import KlaviyoSimulator
from activation.simulators.mailchimp import MailchimpSimulator
from activation.simulators.mailchimp_state import subscriber_hash
from activation.simulators.webhook import WebhookSimulator
from dbt_runner import PROJECT_DIR

SEED = 3


def normalise_time(value: Any) -> str:
    """An event time as UTC ISO 8601 without zone, whatever form the ESP or DuckDB gave it."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat()


class DestinationHarness:
    """The common interface; subclasses fill in the simulator and the queries."""

    name: str
    syncs_file: Path
    # events sent at most once: an interrupted send is recorded uncertain, never resent
    at_most_once = False
    # the simulator's operation (for op= in a fault rule) that receives events
    event_operation: str

    def __init__(self) -> None:
        self.syncs: SyncsFile = load_syncs(self.syncs_file)
        by_mode = {sync.mode: sync for sync in self.syncs.syncs}
        self.profiles_sync = by_mode[Mode.UPSERT_PROFILES].name
        self.segments_sync = by_mode[Mode.MIRROR_LISTS].name
        self.events_sync = by_mode[Mode.TRIGGER_EVENTS].name
        self.deletions_sync = by_mode[Mode.PROPAGATE_DELETIONS].name
        # segment -> list id / segment attribute / tag, as the syncs file maps them
        self.lists: dict[str, str] = dict(by_mode[Mode.MIRROR_LISTS].lists)
        self.sim: SimulatorServer | None = None

    def __repr__(self) -> str:
        return f"<{self.name} harness>"

    # -- lifecycle -----------------------------------------------------------------------------
    def simulator(self) -> SimulatorServer:
        raise NotImplementedError

    @contextlib.contextmanager
    def start(self) -> Iterator[DestinationHarness]:
        with self.simulator() as sim:
            self.sim = sim
            try:
                yield self
            finally:
                self.sim = None

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def add_fault(self, spec: str) -> None:
        assert self.sim is not None
        self.sim.faults.add(spec)

    # -- what the ESP holds --------------------------------------------------------------------
    def profile(self, email: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def profiles(self, emails: list[str]) -> dict[str, dict[str, Any] | None]:
        """``profile`` of many addresses at once (a harness may read the ESP's state once for all)."""
        return {email: self.profile(email) for email in emails}

    def memberships(self) -> dict[str, set[str]]:
        raise NotImplementedError

    def events(self) -> list[Any]:
        raise NotImplementedError

    def event_key(self, event_id: str, email: str, time: Any) -> Any:
        return event_id

    def erased(self) -> set[str]:
        raise NotImplementedError

    def erasure_asked(self, emails: set[str]) -> set[str]:
        """Which of these addresses the ESP was asked (and accepted) to erase, whether or not it held them."""
        return {email for email in emails if email.lower() in self.erased()}

    def subscription_changes(self) -> int:
        raise NotImplementedError

    def requests(self) -> int:
        assert self.sim is not None
        return self.sim.stats.total


class KlaviyoHarness(DestinationHarness):
    name = "klaviyo"
    event_operation = "create_event"
    syncs_file = PROJECT_DIR / "syncs.yml"
    api_key = "pk_test_secret_value"
    sim: KlaviyoSimulator | None

    def simulator(self) -> KlaviyoSimulator:
        lists = {list_id: segment for segment, list_id in self.lists.items()}
        return KlaviyoSimulator(port=0, seed=SEED, rate_limits="off", job_delay=0.02, deletion_delay=0.02,
                                lists=lists)

    def env(self) -> dict[str, str]:
        assert self.sim is not None
        return {"KLAVIYO_BASE_URL": self.sim.base_url, "KLAVIYO_API_KEY": self.api_key}

    def profile(self, email: str) -> dict[str, Any] | None:
        assert self.sim is not None
        found = self.sim.state.profile_by_email(email)
        if found is None:
            return None
        return {"first_name": found["first_name"], "cart_value": found["properties"].get("cart_value")}

    def memberships(self) -> dict[str, set[str]]:
        assert self.sim is not None
        state = self.sim.state.snapshot()
        emails = {profile["id"]: (profile["email"] or "").lower() for profile in state["profiles"]}
        return {klist["id"]: {emails[m] for m in klist["members"]} for klist in state["lists"]}

    def events(self) -> list[Any]:
        assert self.sim is not None
        return [event["unique_id"] for event in self.sim.state.events()]

    def erased(self) -> set[str]:
        assert self.sim is not None
        return {d["value"].lower() for d in self.sim.state.deletion_requests() if d["identifier"] == "email"}

    def subscription_changes(self) -> int:
        assert self.sim is not None
        return len(self.sim.state.subscription_calls())


class BrazeHarness(DestinationHarness):
    name = "braze"
    event_operation = "users_track"
    syncs_file = PROJECT_DIR / "syncs.braze.yml"
    at_most_once = True
    sim: BrazeSimulator | None

    def simulator(self) -> BrazeSimulator:
        return BrazeSimulator(port=0, seed=SEED, rate_limits="off")

    def env(self) -> dict[str, str]:
        assert self.sim is not None
        return {"BRAZE_BASE_URL": self.sim.base_url, "BRAZE_API_KEY": "braze-test-key"}

    def profile(self, email: str) -> dict[str, Any] | None:
        assert self.sim is not None
        users = self.sim.state.users_by_email(email)
        if not users:
            return None
        assert len(users) == 1, f"Braze holds {len(users)} users with {email}: {[u['braze_id'] for u in users]}"
        return self._shape(users[0])

    def profiles(self, emails: list[str]) -> dict[str, dict[str, Any] | None]:
        assert self.sim is not None
        by_email: dict[str, list[dict[str, Any]]] = {}
        for user in self.sim.state.users():
            by_email.setdefault((user["email"] or "").lower(), []).append(user)
        found: dict[str, dict[str, Any] | None] = {}
        for email in emails:
            users = by_email.get(email.lower(), [])
            assert len(users) <= 1, f"Braze holds {len(users)} users with {email}"
            found[email] = self._shape(users[0]) if users else None
        return found

    @staticmethod
    def _shape(user: dict[str, Any]) -> dict[str, Any]:
        attributes = user["attributes"]
        return {"first_name": attributes.get("first_name"), "cart_value": attributes.get("cart_value")}

    def memberships(self) -> dict[str, set[str]]:
        assert self.sim is not None
        members: dict[str, set[str]] = {attribute: set() for attribute in self.lists.values()}
        for user in self.sim.state.users():
            for attribute in members:
                if user["attributes"].get(attribute) is True:
                    members[attribute].add((user["email"] or "").lower())
        return members

    def events(self) -> list[Any]:
        assert self.sim is not None
        return [self.event_key("", event["email"] or "", event["time"]) for event in self.sim.state.events()]

    def event_key(self, event_id: str, email: str, time: Any) -> Any:
        return email.lower(), normalise_time(time)

    def erased(self) -> set[str]:
        assert self.sim is not None
        return {d["identifier"]["email"].lower() for d in self.sim.state.deletions()
                if d["identifier_type"] == "email_addresses"}

    def subscription_changes(self) -> int:
        assert self.sim is not None
        return len(self.sim.state.subscription_changes()) + len(self.sim.state.subscription_calls())


class MailchimpHarness(DestinationHarness):
    name = "mailchimp"
    event_operation = "create_member_event"
    syncs_file = PROJECT_DIR / "syncs.mailchimp.yml"
    at_most_once = True
    sim: MailchimpSimulator | None

    def __init__(self) -> None:
        super().__init__()
        audiences = {str(sync.destination.settings["list_id"]) for sync in self.syncs.syncs}
        assert len(audiences) == 1, audiences
        (self.audience,) = audiences

    def simulator(self) -> MailchimpSimulator:
        return MailchimpSimulator(port=0, seed=SEED, audiences={self.audience: "Shop"})

    def env(self) -> dict[str, str]:
        assert self.sim is not None
        return {"MAILCHIMP_BASE_URL": self.sim.base_url, "MAILCHIMP_API_KEY": "mailchimp-test-us1"}

    def profile(self, email: str) -> dict[str, Any] | None:
        assert self.sim is not None
        member = self.sim.state.member(email, self.audience)
        if member is None:
            return None
        merge = member["merge_fields"]
        return {"first_name": merge.get("FNAME"), "cart_value": merge.get("CARTVALUE")}

    def memberships(self) -> dict[str, set[str]]:
        assert self.sim is not None
        return {tag: self.sim.state.tag_members(self.audience, tag) for tag in self.lists.values()}

    def events(self) -> list[Any]:
        assert self.sim is not None
        return [self.event_key("", event["email"], event["occurred_at"])
                for event in self.sim.state.events(self.audience)]

    def event_key(self, event_id: str, email: str, time: Any) -> Any:
        return email.lower(), normalise_time(time)

    def erased(self) -> set[str]:
        assert self.sim is not None
        return self.sim.state.permanently_deleted(self.audience)

    def erasure_asked(self, emails: set[str]) -> set[str]:
        """Mailchimp keeps nothing for an address it never had (404): read the answered requests."""
        assert self.sim is not None
        answered = {record.path.split("/")[-3] for record in self.sim.stats.recent("delete_member_permanent")
                    if record.status in (204, 404)}
        return {email for email in emails if subscriber_hash(email) in answered}

    def subscription_changes(self) -> int:
        assert self.sim is not None
        state = self.sim.state
        return len(state.status_changes) + len(state.compliance_refusals)


class WebhookHarness(DestinationHarness):
    name = "webhook"
    event_operation = "deliver"
    syncs_file = PROJECT_DIR / "syncs.webhook.yml"
    secret = "webhook-test-secret"
    sim: WebhookSimulator | None

    def simulator(self) -> WebhookSimulator:
        return WebhookSimulator(port=0, seed=SEED, rate_limits="off", secret=self.secret)

    def env(self) -> dict[str, str]:
        assert self.sim is not None
        return {"WEBHOOK_BASE_URL": self.sim.base_url, "WEBHOOK_SECRET": self.secret}

    def profile(self, email: str) -> dict[str, Any] | None:
        return self.profiles([email])[email]

    def profiles(self, emails: list[str]) -> dict[str, dict[str, Any] | None]:
        assert self.sim is not None
        by_email: dict[str, list[dict[str, Any]]] = {}
        for record in self.sim.state.records(self.profiles_sync).values():
            by_email.setdefault(str(record["attributes"].get("email", "")).lower(), []).append(record["attributes"])
        found: dict[str, dict[str, Any] | None] = {}
        for email in emails:
            held = by_email.get(email.lower(), [])
            assert len(held) <= 1, f"the receiver holds {len(held)} records with {email}"
            found[email] = {"first_name": held[0].get("first_name"), "cart_value": held[0].get("cart_value")} \
                if held else None
        return found

    def memberships(self) -> dict[str, set[str]]:
        assert self.sim is not None
        held = self.sim.state.lists()
        return {list_id: set(held.get(list_id, [])) for list_id in self.lists.values()}

    def events(self) -> list[Any]:
        assert self.sim is not None
        return [event["key"] for event in self.sim.state.events() if event["sync"] == self.events_sync]

    def erased(self) -> set[str]:
        assert self.sim is not None
        return self.sim.state.erased()

    def subscription_changes(self) -> int:
        return 0  # a webhook receiver has no subscription state; no sync maps a consent field


HARNESSES: dict[str, type[DestinationHarness]] = {
    harness.name: harness for harness in (KlaviyoHarness, BrazeHarness, MailchimpHarness, WebhookHarness)
}
