"""The server benchmark suite still runs (a tiny smoke run; benchmarks are not tests).

``bench/servers_bench.py --quick`` against the raw-asyncio bound, websockets,
aiohttp and (once its server API imports) longwire, on one WebSocket and one
HTTP workload. The HTTP workload needs ``wrk``: its absence fails the test.
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
WORKLOADS = ["ws-pipelined-32B", "http-keepalive"]


def bench_env() -> dict[str, str]:
    """The environment the benchmark gives its servers: this checkout's ``src`` first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "src"), env.get("PYTHONPATH")] if p)
    return env


def longwire_server_importable() -> bool:
    """True once ``longwire.aio`` (and the ``longwire.app`` the server script uses) import."""
    result = subprocess.run(
        [sys.executable, "-c", "import longwire.aio, longwire.app"],
        capture_output=True, env=bench_env(), timeout=60, check=False,
    )
    return result.returncode == 0


def test_servers_benchmark_smoke_run(tmp_path):
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: apt-get install wrk (the HTTP benchmarks use it)")
    servers = ["raw", "websockets", "aiohttp"]
    if longwire_server_importable():
        servers.append("longwire")
    output = tmp_path / "results.json"
    result = subprocess.run(
        [
            sys.executable, str(BENCH / "servers_bench.py"), "--quick",
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
