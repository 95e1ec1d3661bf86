"""The long-poll benchmark still runs (a tiny smoke run; benchmarks are not tests).

``bench/longpoll_bench.py --quick`` against every server (longwire's
``Sessions`` and hand-written variants, aiohttp, uvicorn, the raw-asyncio
bound): one repetition of a 0.5 s window after each server's answers are
checked (messages in order, none missing, data intact).
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SERVERS = ["longwire-sessions", "longwire-plain", "aiohttp", "uvicorn", "raw"]


def test_longpoll_benchmark_smoke_run(tmp_path):
    output = tmp_path / "longpoll.json"
    result = subprocess.run(
        [
            sys.executable, str(BENCH / "longpoll_bench.py"), "--quick",
            "--servers", *SERVERS, "--output", str(output),
        ],
        capture_output=True, text=True, timeout=50, check=False, cwd=ROOT,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "SKIP" not in result.stdout, report
    assert "### longpoll-push" in result.stdout, report
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
        assert cell["checked"] > 0, cell
        assert cell["messages"] > 0, cell
        assert cell["polls"] > 0, cell
        assert cell["server_us_per_msg"] > 0, cell
