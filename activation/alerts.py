"""Alerts of a scheduled run (`activation run`): decided here, posted to a webhook as Slack-compatible JSON.

An alert is raised when

- the run exits non-zero (``failure``), except a partial run (exit 1) whose
  failed records stay within the threshold: failed records are retried by the
  next run, so a handful is not worth waking someone;
- a sync's failed records exceed ``alerts.failed_share`` of the records it
  sent (``failed_share``);
- a mirror_lists sync plans far more list changes (add + remove) than usual:
  more than ``change_factor`` times the median of its previous
  ``history_runs`` runs and more than ``min_change`` (``membership_change``).

Every alert of a run goes out as ONE webhook message (``{"text", "blocks"}``,
which Slack's incoming webhooks and most chat tools accept) to the URL in the
environment variable that ``alerts.webhook_url_env`` names. The URL is a
secret: it is never logged or written to the run report. A webhook that fails
is logged, never fatal. Messages carry names, counts and error texts that the
transport has already redacted; no credential is ever part of them.
"""

from __future__ import annotations

import os
import socket
import statistics
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from activation.config import Alerts, Mode, Sync
from activation.db import Warehouse
from activation.planner import ADD, REMOVE
from activation.state import StateStore

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Alert:
    kind: str  # failure | failed_share | membership_change
    summary: str
    sync_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def failed_share_alerts(settings: Alerts, entries: list[dict[str, Any]]) -> list[Alert]:
    alerts = []
    for entry in entries:
        sent, failed = entry.get("sent") or 0, entry.get("failed") or 0
        if sent and failed / sent > settings.failed_share:
            alerts.append(
                Alert(
                    "failed_share",
                    f"{entry['sync_name']}: {failed:,} of {sent:,} records failed ({failed / sent:.1%}, above "
                    f"{settings.failed_share:.1%}); they are retried on the next run",
                    entry["sync_name"],
                )
            )
    return alerts


def membership_change_alerts(
    settings: Alerts, warehouse: Warehouse, store: StateStore, syncs: list[Sync], entries: list[dict[str, Any]]
) -> list[Alert]:
    """mirror_lists runs whose planned add + remove is far outside the sync's usual range."""
    modes = {sync.name: sync.mode for sync in syncs}
    alerts = []
    for entry in entries:
        if modes.get(entry["sync_name"]) is not Mode.MIRROR_LISTS or "counts" not in entry:
            continue
        planned = entry["counts"].get(ADD, 0) + entry["counts"].get(REMOVE, 0)
        history = [
            changes
            for (changes,) in warehouse.fetchall(
                f"""
                select planned_add + planned_remove from {store.table('runs')}
                where sync_name = ? and run_id != ? and not dry_run and status in ('succeeded', 'partial')
                order by started_at desc
                limit {int(settings.history_runs)}
                """,
                [entry["sync_name"], entry["run_id"]],
            )
        ]
        if len(history) < settings.min_history_runs:
            continue
        median = statistics.median(history)
        if planned > settings.change_factor * median and planned > settings.min_change:
            alerts.append(
                Alert(
                    "membership_change",
                    f"{entry['sync_name']}: {planned:,} list changes planned (add {entry['counts'].get(ADD, 0):,}, "
                    f"remove {entry['counts'].get(REMOVE, 0):,}), against a median of {median:g} over the last "
                    f"{len(history)} runs (alert above {settings.change_factor:g}x the median and {settings.min_change:,})",
                    entry["sync_name"],
                )
            )
    return alerts


def payload(alerts: list[Alert], *, exit_code: int, outcome: str, report_path: str | None) -> dict[str, Any]:
    """A Slack-compatible message: `text` is the fallback, `blocks` the formatted version."""
    host = socket.gethostname()
    title = f"activation run on {host}: {outcome} (exit {exit_code})"
    lines = [f"• [{alert.kind}] {alert.summary}" for alert in alerts]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
    ]
    for alert in alerts:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{alert.kind}*" + (f" `{alert.sync_name}`" if alert.sync_name else "")
                         + f"\n{_truncate(alert.summary, 2900)}"},
            }
        )
    context = [f"exit code {exit_code}"] + ([f"report: {report_path}"] if report_path else [])
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " | ".join(context)}]})
    return {"text": _truncate(title + "\n" + "\n".join(lines), 3900), "blocks": blocks}


def post(settings: Alerts, message: dict[str, Any]) -> dict[str, Any]:
    """Post `message` to the configured webhook; what happened, without the URL (it is a secret)."""
    env = settings.webhook_url_env
    url = os.environ.get(env) if env else None
    if not url:
        return {"delivered": False, "error": f"not posted: {env or 'alerts.webhook_url_env'} is not set"}
    try:
        response = httpx.post(url, json=message, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        detail = str(error).replace(url, "<webhook>") or type(error).__name__
        return {"delivered": False, "error": f"webhook ${env} failed: {type(error).__name__}: {detail}"}
    if response.status_code >= 300:
        return {"delivered": False, "error": f"webhook ${env} answered HTTP {response.status_code}"}
    return {"delivered": True, "error": None, "webhook": f"${env}"}


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
