"""An ESP simulator in its own process, for benchmarks: `activation simulate KIND --port 0 ...`.

The simulators keep every profile they receive in memory, so at a million
profiles a simulator in the benchmark's own process would add its state and
its CPU to what is measured. Here it runs as a child process; the benchmark
talks to it over HTTP only: the API (the sync's requests) and the admin
endpoints (``/__simulator/stats``, ``/__simulator/state?summary=1``,
``/__simulator/reset``). Its peak RSS is read from /proc (VmHWM), apart from
the sync's.

    with SimulatorProcess("braze", limits="off") as sim:
        env = sim.sync_env(syncs)      # base URL and credential variables of the syncs file
        ...
        sim.stats()                    # requests per operation and status

Limits: ``off`` lifts every limit the simulator enforces; ``production`` keeps
the ESP's documented ones: Klaviyo's per-operation windows, Braze's
/users/track 3,000 per 3 s, Mailchimp's 10 simultaneous connections, and for
the webhook receiver (which has no vendor limit) the rate the syncs file
declares (syncs.webhook.yml: 20/s and 600/m).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from activation.config import SyncsFile
from activation.simulators.rehearsal import DEMO_SECRETS, SYNCS_FILES
from bench.procstatus import status_mb

READY = re.compile(r"state: (http://\S+)/__simulator/state")
WEBHOOK_SECRET_ENV = "BENCH_WEBHOOK_SECRET"


def simulator_command(kind: str, limits: str, syncs_file: Path) -> list[str]:
    """The `activation simulate` command line for `kind` with `limits` (off | production)."""
    if limits not in ("off", "production"):
        raise ValueError(f"limits must be off or production, not {limits!r}")
    base = [sys.executable, "-m", "activation", "simulate", kind, "--host", "127.0.0.1", "--port", "0"]
    if kind == "klaviyo":
        return [*base, "--rate-limits", limits, "--lists-from", str(syncs_file)]
    if kind == "braze":
        return [*base, "--rate-limits", limits]
    if kind == "mailchimp":
        # Mailchimp's only limit is 10 simultaneous connections (0 = no limit)
        return [*base, "--audiences-from", str(syncs_file), "--connection-limit", "10" if limits == "production" else "0"]
    if kind == "webhook":
        command = [*base, "--secret-env", WEBHOOK_SECRET_ENV]
        if limits == "production":
            command += ["--rate-limit", "20/s", "--rate-limit", "600/m"]
        return command
    raise ValueError(f"no simulator for {kind!r}; choose one of {', '.join(SYNCS_FILES)}")


def default_sigint() -> None:
    """Run in a child before it starts: SIGINT's default action, even if this process ignores it.

    A background job of a non-interactive shell (`make bench &`, nohup, a CI step run that way)
    ignores SIGINT, so does every process it starts, and a Python program keeps an ignored SIGINT
    ignored: a simulator started from there would not stop on SIGINT.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class SimulatorProcess:
    """A simulator child process; a context manager that starts it and stops it (SIGINT, then SIGKILL)."""

    def __init__(self, kind: str, *, limits: str = "off", syncs_file: Path | None = None,
                 extra_args: tuple[str, ...] = (), start_timeout: float = 60.0) -> None:
        self.kind = kind
        self.extra_args = extra_args
        self.limits = limits
        self.syncs_file = syncs_file or SYNCS_FILES[kind]
        self.start_timeout = start_timeout
        self.base_url = ""
        self.process: subprocess.Popen[str] | None = None
        self._output: list[str] = []

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> SimulatorProcess:
        env = {**os.environ, WEBHOOK_SECRET_ENV: DEMO_SECRETS["webhook"], "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [*simulator_command(self.kind, self.limits, self.syncs_file), *self.extra_args], env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            # stopped with SIGINT below, even from a nohup'd benchmark (the child only calls sigaction)
            preexec_fn=default_sigint,  # noqa: PLW1509
        )
        found = threading.Event()

        def read() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self._output.append(line.rstrip())
                del self._output[:-200]
                match = READY.search(line)
                if match and not found.is_set():
                    self.base_url = match.group(1)
                    found.set()

        threading.Thread(target=read, name=f"{self.kind}-simulator-output", daemon=True).start()
        deadline = time.monotonic() + self.start_timeout
        while not found.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = "\n".join(self._output[-30:])
                self.__exit__()
                raise RuntimeError(f"the {self.kind} simulator did not start:\n{output}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    # ------------------------------------------------------------------ admin API
    def _admin(self, method: str, path: str, body: Any = None, timeout: float = 120.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}/__simulator{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (a local simulator)
            return json.loads(response.read())

    def stats(self) -> dict[str, dict[str, Any]]:
        """Requests per operation: {requests, statuses, bytes_in, bytes_out, faults}."""
        return self._admin("GET", "/stats")["by_operation"]

    def summary(self) -> dict[str, Any]:
        """Counts of the simulator's state (profiles, users, members or records)."""
        return self._admin("GET", "/state?summary=1")["state"]

    def profiles(self) -> int:
        """Profiles (Klaviyo), users (Braze), audience members (Mailchimp) or records (webhook) held."""
        state = self.summary()
        if self.kind == "klaviyo":
            return int(state["profiles"])
        if self.kind == "braze":
            return int(state["users"])
        if self.kind == "mailchimp":
            return sum(int(audience["members"]) for audience in state["audiences"])
        return int(state["records"])

    def reset(self) -> None:
        self._admin("POST", "/reset", {})

    def cpu_seconds(self) -> float:
        """The simulator process's CPU time so far (user + system, every thread), from /proc/PID/stat."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """The simulator process's peak resident set (VmHWM), in MB."""
        assert self.process is not None
        return status_mb("VmHWM", self.process.pid)

    def sync_env(self, syncs: SyncsFile) -> dict[str, str]:
        """The variables that point this syncs file's syncs of `kind` at the simulator (base URL, credentials)."""
        env: dict[str, str] = {}
        for sync in syncs.syncs:
            if sync.destination.type != self.kind:
                continue
            if sync.destination.base_url_env:
                env[sync.destination.base_url_env] = self.base_url
            for variable in sync.destination.credentials.values():
                env[variable] = DEMO_SECRETS[self.kind]
        return env


def delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Requests per operation and status sent between two stats() snapshots (operations with none left out)."""
    out: dict[str, dict[str, Any]] = {}
    for op, entry in after.items():
        old = before.get(op, {"statuses": {}, "bytes_in": 0, "requests": 0})
        statuses = {s: n - old["statuses"].get(s, 0) for s, n in entry["statuses"].items()}
        statuses = {s: n for s, n in statuses.items() if n}
        if statuses:
            out[op] = {"requests": entry["requests"] - old["requests"], "bytes_in": entry["bytes_in"] - old["bytes_in"],
                       "statuses": statuses}
    return out
