"""The broadcast benchmark still runs (a tiny smoke run; benchmarks are not tests).

``bench/broadcast_bench.py --quick`` against the single-node servers (the
longwire hub, python-socketio on uvicorn and on aiohttp, websockets, picows, the
raw-asyncio bound): 50 subscribers, each first checked on 5 messages (exactly
those, in order, parsed), then 3 single-message fan-outs and a 20-message burst
counted and checked (every subscriber got 20, the last one right).
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SERVERS = ["longwire", "socketio-uvicorn", "socketio-aiohttp", "websockets", "picows", "raw"]


def test_broadcast_benchmark_smoke_run(tmp_path):
    output = tmp_path / "broadcast.json"
    result = subprocess.run(
        [
            sys.executable, str(BENCH / "broadcast_bench.py"), "--quick",
            "--servers", *SERVERS, "--output", str(output),
        ],
        capture_output=True, text=True, timeout=90, check=False, cwd=ROOT,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "SKIP" not in result.stdout, report
    assert "### broadcast-64B: 50 subscribers × 20 messages" in result.stdout, report
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    for server in SERVERS:
        timed = [row for row in rows if row.startswith(f"| {server} |")]
        assert len(timed) == 1, report
        value = timed[0].split("|")[3].split()[0]
        assert float(value.replace(",", "")) > 0, timed[0]

    cells = json.loads(output.read_text())["cells"]
    assert sorted(c["server"] for c in cells) == sorted(SERVERS)
    for cell in cells:
        assert cell["ok"], cell
        assert cell["clients"] == 50, cell
        assert cell["messages"] == 50 * 20, cell
        assert len(cell["latencies"]) == 3, cell
        assert cell["server_us_per_msg"] >= 0, cell  # 10 ms clock ticks: may read 0
        assert cell["seconds"] > 0, cell
