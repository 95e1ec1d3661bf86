"""What the benchmark smoke tests share: a ``--quick`` run of a ``bench/*_bench.py`` script
and the checks of its tables and raw results (benchmarks are not tests; the smoke
runs only show that the scripts still run and measure something)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def bench_env() -> dict[str, str]:
    """The environment the benchmarks give their servers: this checkout's ``src`` first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "src"), env.get("PYTHONPATH")] if p)
    return env


def run_quick(
    script: str, output: Path, servers: list[str], headings: list[str], *,
    arguments: tuple[str, ...] = (), timeout: float,
) -> list[dict[str, Any]]:
    """Run ``bench/<script> --quick --servers *servers *arguments --output <output>``;
    the cells of the raw results it wrote.

    It must exit 0 and skip no server, print each of ``headings`` (a table's
    ``### ...`` line, or its beginning), and print for each server one table row per
    heading whose first figure is above 0.
    """
    result = subprocess.run(
        [
            sys.executable, str(BENCH / script), "--quick",
            *arguments, "--servers", *servers, "--output", str(output),
        ],
        capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "SKIP" not in result.stdout, report
    for heading in headings:
        assert f"### {heading}" in result.stdout, report
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    for server in servers:
        timed = [row for row in rows if row.startswith(f"| {server} |")]
        assert len(timed) == len(headings), report
        for row in timed:
            value = row.split("|")[3].split()[0]
            assert float(value.replace(",", "")) > 0, row
    cells: list[dict[str, Any]] = json.loads(output.read_text())["cells"]
    return cells


def run_workloads(
    script: str, output: Path, servers: list[str], workloads: list[str], *, timeout: float,
) -> list[dict[str, Any]]:
    """``run_quick`` of a benchmark whose tables are its ``--workloads`` (some timed with
    ``wrk``, whose absence fails the test); every cell, one per server and workload,
    must have a positive value."""
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: apt-get install wrk (the HTTP benchmarks use it)")
    cells = run_quick(
        script, output, servers, workloads, arguments=("--workloads", *workloads),
        timeout=timeout,
    )
    assert {(c["server"], c["workload"]) for c in cells} == {
        (s, w) for s in servers for w in workloads
    }
    for cell in cells:
        assert cell["ok"], cell
        assert cell["value"] > 0, cell
    return cells
