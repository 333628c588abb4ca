"""A warm dbt for the tests: one process imports dbt once, then forks a child for each dbt command.

A `dbt` process spends a good part of a small command just starting: importing dbt and its
adapters (1.3 CPU s), loading the adapter plugin, filling dbt's caches. This server does that once
(importing dbt and running one `dbt ls` of the project), then serves each request in a child forked
from itself, which starts warm: a small `dbt run` (the sessions and customers of 200 customers) took
3.1 CPU s this way against 5.3 s as a `dbt` process. The child runs the command through `dbtRunner` (dbt's programmatic
entry point, the same click command as the `dbt` executable) and exits, so each command still runs
in a process of its own: nothing one command changes (dbt's flags, dbt-duckdb's open database file,
environment variables, the working directory) reaches the next, as with the `dbt` executable.

Protocol (tests/python/dbt_runner.py is the client): one JSON object per line on stdin,
``{"args": [...], "cwd": DIR, "env": {...}, "output": FILE}``; for each, one line on stdout,
``{"returncode": N}``. The command's stdout and stderr go to FILE, interleaved (the tests read them
as one text). Exit codes are the `dbt` executable's: 0 done, 1 a node failed, 2 dbt could not run
the command (bad arguments, a compilation error, an unhandled exception; the exception is printed
as one line, not as click's usage text). The server exits at the end of stdin.

Forking a process that has threads is safe only while no other thread holds a lock the fork will
need. The server has one thread besides its own: the one importing duckdb starts (DuckDB's
allocator registers fork handlers). dbt's static parser would start a pool on first use, so the
warm-up does not use it (see warm_up).

    python tests/python/dbt_forkserver.py PROJECT_DIR
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import tempfile
import traceback
from typing import Any, NoReturn


def exit_code(result: Any) -> int:
    """The `dbt` executable's exit code for a dbtRunner result."""
    if result.success:
        return 0
    return 1 if result.exception is None else 2


def invoke(args: list[str]) -> int:
    """Run one dbt command in this process; its exit code. An exception dbt did not report is printed."""
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(args)
    if result.exception is not None:
        # dbt reports its own errors through its logger; click's usage errors and anything
        # unexpected would otherwise leave no trace in the output
        print(f"dbt_forkserver: {type(result.exception).__name__}: {result.exception}", file=sys.stderr)
    return exit_code(result)


def warm_up(project_dir: str) -> None:
    """Import dbt and its adapters and run one `dbt ls`, in a scratch directory, so that forks start warm."""
    import dbt.adapters.duckdb.impl  # noqa: F401  (imported to be inherited by the forks)
    import dbt.task.build  # noqa: F401
    import dbt.task.run_operation  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="dbt-forkserver-") as scratch:
        os.environ.update(WAREHOUSE_PATH=os.path.join(scratch, "warm-up.duckdb"), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
        # --no-static-parser: dbt's static parser (dbt-extractor, Rust) starts a pool of threads on
        # first use; threads do not survive a fork, and a fork that used the pool would wait on them
        # forever. Unused here, each fork starts its own.
        invoke([
            "--no-static-parser", "ls", "--select", "sessions", "--quiet",
            "--project-dir", project_dir, "--profiles-dir", project_dir,
            "--target-path", os.path.join(scratch, "target"), "--log-path", os.path.join(scratch, "logs"),
        ])
    from dbt_common.events.event_manager_client import cleanup_event_logger

    cleanup_event_logger()  # the warm-up's log file is not the forks' business


def run_child(request: dict[str, Any], replies: int) -> NoReturn:
    """In the forked child: run the request's command with its directory, environment and output, then exit."""
    code = 2
    try:
        os.close(replies)  # the server's reply channel: if the server dies, its client must see it
        output = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        stdin = os.open(os.devnull, os.O_RDONLY)
        os.dup2(stdin, 0)
        os.close(stdin)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        _forget_warm_up()
        sys.argv = ["dbt", *request["args"]]  # what dbt records as the invocation command
        code = invoke(request["args"])
    except BaseException:  # noqa: BLE001  (the child must exit here whatever happened)
        traceback.print_exc()
    finally:
        # Python's exit handlers, as at the end of a `dbt` process: they flush the output and
        # release the semaphores dbt created (multiprocessing's). Then os._exit, not a normal exit:
        # the C++ teardown of DuckDB's thread, which the fork copied as an object but not as a
        # thread, aborts.
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _forget_warm_up() -> None:
    """Clear what dbt remembers across commands in one process, so the warm-up's run is not seen."""
    import dbt.deprecations
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    dbt.deprecations.active_deprecations.clear()  # a deprecation is printed once per process
    DuckDBConnectionManager._LOGGED_MESSAGES.clear()  # dbt-duckdb's warnings, once per process


def serve(project_dir: str) -> None:
    replies = os.fdopen(os.dup(1), "w")  # the reply channel; fd 1 is then dbt's output
    # dbt's output (the warm-up's included) must never reach the reply channel
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    warm_up(project_dir)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            run_child(request, replies.fileno())
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve(sys.argv[1])
