"""Run datagen and dbt commands one after another in one Python process, so that
every step uses the same Spark session: one JVM, started and JIT-compiled once.

dbt-spark's session method starts Spark in the dbt process (``getOrCreate``) and
the datagen loader does the same, so each command run on its own pays for a JVM
start and for compiling Spark's planner again. Run in one process, the second
and later steps find the session already running and warm. With the demo data
(2,000 customers) the loader, the full build and the incremental `dbt run` took
20 % less CPU and wall time this way than as three processes (medians of 3 on a
quiet 2-core machine: 498 against 619 CPU s, 267 against 333 s; DECISIONLOG,
"CI: one Spark session for the Spark suite").

    python scripts/spark_steps.py [--times FILE] -- COMMAND ARGS... [--- COMMAND ARGS...]...

COMMAND is ``datagen`` (``python -m datagen``'s commands) or ``dbt`` (dbt's
command line, run through ``dbtRunner``); ``---`` separates the steps. The steps
run in order; the first that fails stops the run, and its exit code is this
script's (dbt's: 1 when a node failed, 2 when dbt itself could not run). Each
step's wall-clock seconds are printed to stderr and, with ``--times``, written
to FILE, one ``SECONDS<TAB>COMMAND`` line per step that ran.

Example (what scripts/engine_build.sh runs for Spark):

    python scripts/spark_steps.py --times target/spark.times -- \\
        datagen load --db demo.duckdb --target spark --quiet --- \\
        dbt build --full-refresh --target spark --- \\
        dbt run --target spark
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

SEPARATOR = "---"


class StepError(ValueError):
    """The command line does not describe a list of steps."""


def split_steps(words: Sequence[str]) -> list[list[str]]:
    """The steps of a command line: runs of words separated by ``---``, each a known command."""
    steps: list[list[str]] = [[]]
    for word in words:
        if word == SEPARATOR:
            steps.append([])
        else:
            steps[-1].append(word)
    for number, step in enumerate(steps, start=1):
        if not step:
            raise StepError(f"step {number} is empty: write COMMAND ARGS... between the '{SEPARATOR}' separators")
        if step[0] not in RUNNERS:
            raise StepError(
                f"step {number} starts with {step[0]!r}: each step is one of {', '.join(sorted(RUNNERS))} "
                "followed by its arguments"
            )
    return steps


def run_datagen(args: list[str]) -> int:
    """``python -m datagen ARGS`` in this process; its exit code."""
    from datagen.cli import main

    try:
        main.main(args, prog_name="datagen", standalone_mode=True)
    except SystemExit as done:
        return _exit_code(done.code)
    return 0


def run_dbt(args: list[str]) -> int:
    """``dbt ARGS`` in this process (dbtRunner); dbt's exit code: 0 ok, 1 a node failed, 2 dbt failed."""
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(args)
    if result.exception is not None:
        print(f"spark_steps.py: dbt {' '.join(args)}: {result.exception}", file=sys.stderr)
        return 2
    return 0 if result.success else 1


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message"), as click does for some errors
    return 1


RUNNERS: dict[str, Callable[[list[str]], int]] = {"datagen": run_datagen, "dbt": run_dbt}


def run_steps(steps: list[list[str]], times: Path | None = None) -> int:
    """Run the steps in order until one fails; the exit code of the failed step, else 0."""
    lines: list[str] = []
    for number, (command, *args) in enumerate(steps, start=1):
        described = " ".join([command, *args])
        started = time.perf_counter()
        code = RUNNERS[command](args)
        seconds = time.perf_counter() - started
        lines.append(f"{seconds:.1f}\t{described}\n")
        if times is not None:
            times.write_text("".join(lines))
        print(f"spark_steps.py: step {number}/{len(steps)} ({command} {' '.join(args[:1])}) "
              f"{'ok' if code == 0 else f'failed, exit {code}'} in {seconds:.1f} s", file=sys.stderr)
        if code != 0:
            return code
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run datagen and dbt commands one after another in one process, sharing one Spark session.",
        epilog=f"Steps: COMMAND ARGS... separated by '{SEPARATOR}'; COMMAND is datagen or dbt. "
        "Put '--' before the first step.",
    )
    parser.add_argument("--times", type=Path, help="write each step's seconds and command here, one per line")
    parser.add_argument("steps", nargs=argparse.REMAINDER, help="the steps, after --")
    options = parser.parse_args(argv)
    words = options.steps[1:] if options.steps[:1] == ["--"] else options.steps
    if not words:
        parser.error("no steps: give COMMAND ARGS... after --")
    try:
        steps = split_steps(words)
    except StepError as error:
        parser.error(str(error))
    return run_steps(steps, options.times)


if __name__ == "__main__":
    sys.exit(main())
