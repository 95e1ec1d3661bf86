"""The ASGI server benchmark still runs (a tiny smoke run; benchmarks are not tests).

``bench/asgi_bench.py --quick`` for uvicorn, hypercorn, the raw-asyncio bound
and (once ``longwire serve`` has ``--interface``) longwire, on the HTTP and the pipelined
WebSocket workload. The HTTP workload needs ``wrk``: its absence fails the test.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORKLOADS = ["http-keepalive", "ws-pipelined-32B"]


def longwire_serves_asgi() -> bool:
    """True once ``longwire serve`` has its ASGI mode (its ``--interface`` option)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "src"), env.get("PYTHONPATH")] if p)
    result = subprocess.run(
        [sys.executable, "-m", "longwire", "serve", "--help"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )
    return result.returncode == 0 and "--interface" in result.stdout


def test_asgi_benchmark_smoke_run(tmp_path):
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: apt-get install wrk (the HTTP benchmarks use it)")
    servers = ["uvicorn", "hypercorn", "raw"]
    if longwire_serves_asgi():
        servers.insert(0, "longwire")
    output = tmp_path / "asgi.json"
    result = subprocess.run(
        [
            sys.executable, str(BENCH / "asgi_bench.py"), "--quick",
            "--workloads", *WORKLOADS, "--servers", *servers, "--output", str(output),
        ],
        capture_output=True, text=True, timeout=55, check=False, cwd=ROOT,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "SKIP" not in result.stdout, report
    for workload in WORKLOADS:
        assert f"### {workload}" in result.stdout, report
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    for server in servers:
        timed = [row for row in rows if row.startswith(f"| {server} |")]
        assert len(timed) == len(WORKLOADS), report
        for row in timed:
            value = row.split("|")[3].split()[0]
            assert float(value.replace(",", "")) > 0, row

    cells = json.loads(output.read_text())["cells"]
    assert {(c["server"], c["workload"]) for c in cells} == {
        (s, w) for s in servers for w in WORKLOADS
    }
    for cell in cells:
        assert cell["ok"], cell
        assert cell["value"] > 0, cell
        assert cell["server_us_per_msg"] > 0, cell
