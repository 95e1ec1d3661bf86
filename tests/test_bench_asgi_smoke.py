"""The ASGI server benchmark still runs (a tiny smoke run; benchmarks are not tests).

``bench/asgi_bench.py --quick`` for uvicorn, hypercorn, the raw-asyncio bound
and (once ``longwire serve`` has ``--interface``) longwire, on the HTTP and the pipelined
WebSocket workload. The HTTP workload needs ``wrk``: its absence fails the test.
"""

import subprocess
import sys

from bench_smoke import bench_env, run_workloads

WORKLOADS = ["http-keepalive", "ws-pipelined-32B"]


def longwire_serves_asgi() -> bool:
    """True once ``longwire serve`` has its ASGI mode (its ``--interface`` option)."""
    result = subprocess.run(
        [sys.executable, "-m", "longwire", "serve", "--help"],
        capture_output=True, text=True, env=bench_env(), timeout=60, check=False,
    )
    return result.returncode == 0 and "--interface" in result.stdout


def test_asgi_benchmark_smoke_run(tmp_path):
    servers = ["uvicorn", "hypercorn", "raw"]
    if longwire_serves_asgi():
        servers.insert(0, "longwire")
    cells = run_workloads("asgi_bench.py", tmp_path / "asgi.json", servers, WORKLOADS, timeout=55)
    for cell in cells:
        assert cell["server_us_per_msg"] > 0, cell
