"""The static-file benchmark still runs (a tiny smoke run; benchmarks are not tests).

``bench/static_bench.py --quick`` for longwire (default loop) and aiohttp, all
four workloads, one repetition of 1 s windows. It needs ``wrk``: its absence
fails the test.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORKLOADS = ["static-small", "static-large", "static-304", "static-range"]
SERVERS = ["longwire", "aiohttp"]


def test_static_benchmark_smoke_run(tmp_path):
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: apt-get install wrk (the HTTP benchmarks use it)")
    output = tmp_path / "static.json"
    result = subprocess.run(
        [
            sys.executable, str(BENCH / "static_bench.py"), "--quick",
            "--workloads", *WORKLOADS, "--servers", *SERVERS, "--output", str(output),
        ],
        capture_output=True, text=True, timeout=28, check=False, cwd=ROOT,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "SKIP" not in result.stdout, report
    for workload in WORKLOADS:
        assert f"### {workload}" in result.stdout, report
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    for server in SERVERS:
        timed = [row for row in rows if row.startswith(f"| {server} |")]
        assert len(timed) == len(WORKLOADS), report
        for row in timed:
            value = row.split("|")[3].split()[0]
            assert float(value.replace(",", "")) > 0, row

    cells = json.loads(output.read_text())["cells"]
    assert {(c["server"], c["workload"]) for c in cells} == {
        (s, w) for s in SERVERS for w in WORKLOADS
    }
    for cell in cells:
        assert cell["ok"], cell
        assert "skipped" not in cell, cell  # both answer 304 and 206
        assert cell["value"] > 0, cell
        assert cell["server_us_per_unit"] > 0, cell
