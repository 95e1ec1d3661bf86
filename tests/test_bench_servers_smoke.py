"""The server benchmark suite still runs (a tiny smoke run; benchmarks are not tests).

``bench/servers_bench.py --quick`` against the raw-asyncio bound, websockets,
aiohttp and (once its server API imports) longwire, on one WebSocket and one
HTTP workload. The HTTP workload needs ``wrk``: its absence fails the test.
"""

import subprocess
import sys

from bench_smoke import bench_env, run_workloads

WORKLOADS = ["ws-pipelined-32B", "http-keepalive"]


def longwire_server_importable() -> bool:
    """True once ``longwire.aio`` (and the ``longwire.app`` the server script uses) import."""
    result = subprocess.run(
        [sys.executable, "-c", "import longwire.aio, longwire.app"],
        capture_output=True, env=bench_env(), timeout=60, check=False,
    )
    return result.returncode == 0


def test_servers_benchmark_smoke_run(tmp_path):
    servers = ["raw", "websockets", "aiohttp"]
    if longwire_server_importable():
        servers.append("longwire")
    cells = run_workloads(
        "servers_bench.py", tmp_path / "results.json", servers, WORKLOADS, timeout=55
    )
    for cell in cells:
        assert cell["server_us_per_msg"] > 0, cell
