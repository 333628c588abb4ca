"""Start the simulator a syncs file's destination needs, and the environment that points the syncs at it.

Used by `make demo` (scripts/demo_sync.py) and by benchmarks: the base URL
and credential variables are the ones the syncs file names (base_url_env,
credentials), filled with the simulator's address and harmless demo values,
so a rehearsal runs the very same sync declarations as production.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from activation.config import SyncsFile
from activation.errors import ConfigError
from activation.simulators.base import SimulatorServer

ROOT = Path(__file__).resolve().parents[2]
SYNCS_FILES = {
    "klaviyo": ROOT / "syncs.yml",
    "braze": ROOT / "syncs.braze.yml",
    "mailchimp": ROOT / "syncs.mailchimp.yml",
    "webhook": ROOT / "syncs.webhook.yml",
}
DEMO_SECRETS = {
    "klaviyo": "pk_demo_not_a_secret",
    "braze": "demo-braze-key",
    "mailchimp": "demo-key-us1",  # Mailchimp keys end with -<data center>
    "webhook": "demo-webhook-secret",
}


def _simulator(kind: str, syncs: SyncsFile, rate_limits: str) -> SimulatorServer:
    mine = [sync for sync in syncs.syncs if sync.destination.type == kind]
    if kind == "klaviyo":
        from activation.simulators.klaviyo import KlaviyoSimulator

        lists = {list_id: segment for sync in mine for segment, list_id in sync.lists.items()}
        return KlaviyoSimulator(port=0, rate_limits=rate_limits, lists=lists)
    if kind == "braze":
        from activation.simulators.braze import BrazeSimulator

        return BrazeSimulator(port=0, rate_limits=rate_limits)
    if kind == "mailchimp":
        from activation.simulators.mailchimp import MailchimpSimulator

        audiences = {str(s.destination.settings["list_id"]): s.name for s in mine if "list_id" in s.destination.settings}
        return MailchimpSimulator(port=0, audiences=audiences)
    if kind == "webhook":
        from activation.simulators.webhook import WebhookSimulator

        return WebhookSimulator(port=0, rate_limits=rate_limits, secret=DEMO_SECRETS["webhook"])
    raise ConfigError(f"no simulator for destination type {kind!r}; choose one of {', '.join(SYNCS_FILES)}")


@contextmanager
def rehearsal(kind: str, syncs: SyncsFile, *, rate_limits: str = "production") -> Iterator[tuple[SimulatorServer, dict[str, str]]]:
    """A running simulator for destination type `kind`, and the env vars that point `syncs` at it."""
    mine = [sync for sync in syncs.syncs if sync.destination.type == kind]
    if not mine:
        raise ConfigError(f"the syncs file declares no {kind} sync")
    with _simulator(kind, syncs, rate_limits) as simulator:
        env: dict[str, str] = {}
        for sync in mine:
            if sync.destination.base_url_env:
                env[sync.destination.base_url_env] = simulator.base_url
            for variable in sync.destination.credentials.values():
                env[variable] = DEMO_SECRETS[kind]
        yield simulator, env
