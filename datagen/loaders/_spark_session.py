"""A local Spark session configured exactly like dbt's ``spark`` target.

The Spark settings (master, warehouse dir, Derby metastore location, time zone,
shuffle partitions) are written once, in the ``spark`` output of profiles.yml.
This module reads them from there, rendering the few Jinja calls profiles.yml
uses (``env_var``, ``int``), so the loader and dbt always share one warehouse and
one metastore.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml

from datagen.loaders.base import LoadError

PROFILE_NAME = "email_personalization"
TARGET_NAME = "spark"


class SparkSetupError(LoadError):
    """Spark cannot be started here; the message says what to install or set."""


def _env_var(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise SparkSetupError(f"profiles.yml needs environment variable {name}; set it")
    return value


def _render(value: Any) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return env.from_string(str(value)).render(env_var=_env_var)


def profiles_dir() -> Path:
    """DBT_PROFILES_DIR, else the project directory (this repository ships profiles.yml)."""
    configured = os.environ.get("DBT_PROFILES_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2]


def spark_conf(profiles: Path | None = None) -> dict[str, str]:
    """server_side_parameters of the spark target, rendered."""
    path = (profiles or profiles_dir()) / "profiles.yml"
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SparkSetupError(f"{path} not found; set DBT_PROFILES_DIR to the directory holding profiles.yml") from None
    try:
        output = document[PROFILE_NAME]["outputs"][TARGET_NAME]
    except (KeyError, TypeError):
        raise SparkSetupError(f"{path} has no '{TARGET_NAME}' output in profile '{PROFILE_NAME}'") from None
    parameters: Mapping[str, Any] = output.get("server_side_parameters") or {}
    return {str(key): _render(value) for key, value in parameters.items()}


def java_home() -> str | None:
    """JAVA_HOME if set, else a Java 17+ found on PATH or under /usr/lib/jvm (None: not found)."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    java = shutil.which("java")
    if java:
        return str(Path(java).resolve().parents[1])
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        for candidate in sorted(jvm.iterdir()):
            if (candidate / "bin" / "java").exists() and ("17" in candidate.name or "21" in candidate.name):
                return str(candidate)
    return None


def state_dirs(conf: Mapping[str, str]) -> list[Path]:
    """The warehouse directory and the Derby metastore directory of a spark conf."""
    dirs = [Path(conf["spark.sql.warehouse.dir"])]
    url = conf.get("spark.hadoop.javax.jdo.option.ConnectionURL", "")
    for part in url.split(";"):
        if part.startswith("databaseName="):
            dirs.append(Path(part.removeprefix("databaseName=")))
    return dirs


def start_session(conf: Mapping[str, str] | None = None) -> Any:
    """A Hive-enabled local SparkSession with the spark target's settings (as dbt starts it)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkSetupError(
            "pyspark is not installed; install the Spark extra: pip install -e '.[spark]'"
        ) from None
    if not os.environ.get("JAVA_HOME"):
        home = java_home()
        if home is None:
            raise SparkSetupError("Java 17 not found: install it (apt-get install openjdk-17-jre-headless) or set JAVA_HOME")
        os.environ["JAVA_HOME"] = home
    settings = dict(conf if conf is not None else spark_conf())
    # dbt-spark forces ANSI mode off on its sessions; do the same so both agree.
    settings["spark.sql.ansi.enabled"] = "false"
    for directory in state_dirs(settings):
        directory.parent.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
