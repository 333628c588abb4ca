"""Reading YAML, fast: PyYAML's libyaml parser when the installed PyYAML has it.

Every sync reads its export's YAML (models/exports/*.yml, for the columns that hold JSON) and
the syncs file, and a scheduled run starts one process per run. PyYAML's libyaml-backed
``CSafeLoader`` parses those files about 8 times faster than the pure-Python ``SafeLoader``
(measured on export_contact_template_variables.yml: 2.4 ms against 19 ms). Both build the
same Python values (same resolver and safe constructor; only the scanner and parser are C),
and both raise ``yaml.YAMLError`` with the line and column of a problem. The PyPI wheels
include libyaml; a PyYAML built without it falls back to ``SafeLoader``.
"""

from __future__ import annotations

from typing import Any

import yaml

LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load(text)``, with the libyaml parser when available."""
    return yaml.load(text, Loader=LOADER)  # LOADER is a safe loader: CSafeLoader or SafeLoader
