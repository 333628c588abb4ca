from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from dbt_runner import run_dbt  # noqa: E402

# Under pytest-xdist (make test runs two workers) each worker has its own PostgreSQL server: the
# session fixture below stops the server it started when its session ends, which must not pull a
# server from under another worker. Worker gwN uses $PGPORT + N; every PostgreSQL client of the
# tests (fixtures, dbt, datagen load, activation) reads PGPORT from the environment.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER.startswith("gw"):
    os.environ["PGPORT"] = str(int(os.environ.get("PGPORT") or 54329) + int(_WORKER[2:]))

# A fixed end time keeps every dataset (and every window in it) reproducible.
END_TIME = datetime(2026, 11, 20, 12, 0, 0)
# ... and builds measure every window from the end of the data.
AS_OF = END_TIME.strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture(scope="session", autouse=True)
def dbt_parse_cache(tmp_path_factory):
    """dbt calls through run_dbt reuse the parse an earlier call with the same vars saved (see
    dbt_runner.run_dbt): the cache is this worker's own, so no two dbt processes write it at once."""
    from dbt_runner import PARSE_CACHE_ENV

    previous = os.environ.get(PARSE_CACHE_ENV)
    os.environ[PARSE_CACHE_ENV] = str(tmp_path_factory.getbasetemp() / "dbt-parse-cache")
    yield
    if previous is None:
        os.environ.pop(PARSE_CACHE_ENV, None)
    else:
        os.environ[PARSE_CACHE_ENV] = previous


@pytest.fixture(scope="session")
def small_dataset():
    """A small messy dataset, generated once per test session."""
    from datagen import GeneratorConfig, generate

    config = GeneratorConfig(customers=400, days=14, seed=7, end_time=END_TIME)
    return generate(config)


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory, small_dataset):
    """The small dataset landed in DuckDB and built by one full `dbt build`.

    Built once per test run: under pytest-xdist the first worker to get here builds it in the
    run's shared temporary directory (under a file lock) and the others wait and reuse it. Tests
    only read it (in read-only connections, which DuckDB allows from several processes) or copy it.
    """
    from filelock import FileLock

    from datagen import write_duckdb
    from dbt_runner import DbtResult

    root = tmp_path_factory.getbasetemp()
    if _WORKER:
        root = root.parent  # the directory the xdist workers of this run share
    work = root / "built-full"
    warehouse = work / "warehouse.duckdb"
    outcome = work / "dbt-build.json"
    with FileLock(str(root / "built-full.lock")):
        if not outcome.exists():
            work.mkdir(exist_ok=True)
            write_duckdb(small_dataset, warehouse, schema="raw", mode="replace")
            result = run_dbt(["build", "--full-refresh"], warehouse, work, vars_={"as_of": AS_OF})
            outcome.write_text(json.dumps({"returncode": result.returncode, "output": result.output}))
    return warehouse, work, DbtResult(**json.loads(outcome.read_text()))


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the tests that run activation on PostgreSQL.

    `scripts/postgres.sh start` (installs Debian's postgresql when missing, as root) unless a
    server already answers on $PGPORT (default 54329); one database per test session, dropped at
    the end; the server is stopped at the end only if this session started it. A server that
    cannot start fails these tests with the script's output. POSTGRES_TESTS=skip skips them.
    """
    from warehouses import SKIP_ENV, start_server, stop_server

    if os.environ.get(SKIP_ENV) == "skip":
        pytest.skip(f"{SKIP_ENV}=skip: the PostgreSQL tests are skipped")
    port = int(os.environ.get("PGPORT") or 54329)
    try:
        server = start_server(port, f"activation_test_{os.getpid()}")
    except Exception as error:  # noqa: BLE001 - any failure to get a server fails the tests, with its reason
        pytest.fail(f"no PostgreSQL server for the tests: {error}", pytrace=False)
    yield server
    stop_server(server)
