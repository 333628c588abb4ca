"""Generated documentation stays in step with the models it describes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_marts_page_is_up_to_date():
    result = subprocess.run([sys.executable, "scripts/marts_doc.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
