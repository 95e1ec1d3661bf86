"""The SSE benchmark still runs (a tiny smoke run; benchmarks are not tests).

``bench/sse_bench.py --quick``: 2,000 events, one stream, one repetition, for
longwire's ``@app.sse``, aiohttp and the raw bound (and sse-starlette when it
is installed: the ``bench`` extra), each checked byte for byte first.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def test_sse_benchmark_smoke_run(tmp_path: Path) -> None:
    servers = ["longwire", "aiohttp", "raw"]
    if importlib.util.find_spec("sse_starlette") is not None:
        servers.append("sse-starlette")
    output = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, str(BENCH / "sse_bench.py"), "--quick",
         "--servers", *servers, "--output", str(output)],
        capture_output=True, text=True, timeout=55, check=False, cwd=ROOT,
    )  # fmt: skip
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    for server in servers:
        row = next(row for row in rows if row.startswith(f"| {server} ("))
        assert float(row.split("|")[2].split()[0].replace(",", "")) > 0, row
    results = json.loads(output.read_text())["results"]
    assert set(results) == set(servers)
    assert all(run["events_per_s"] > 0 for runs in results.values() for run in runs)
