"""A process's memory figures from Linux's /proc/PID/status."""

from __future__ import annotations

from pathlib import Path


def status_mb(field: str, pid: int | str = "self") -> float:
    """A kB field of /proc/PID/status (VmRSS: resident now, VmHWM: peak resident) in MB."""
    path = Path(f"/proc/{pid}/status")
    for line in path.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in {path}")
