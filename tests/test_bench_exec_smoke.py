"""``bench/exec_bench.py`` still runs: a tiny smoke run, both servers (benchmarks are not tests)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_exec_benchmark_smoke_run(tmp_path):
    if shutil.which("websocketd") is None:
        pytest.fail("websocketd is not installed: apt-get install websocketd")
    output = tmp_path / "exec.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "exec_bench.py"), "--quick", "--output", str(output)],
        capture_output=True, text=True, timeout=90, check=False, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(output.read_text())
    for workload in ("roundtrips", "setups"):
        medians = summary["median"][workload]
        assert medians["longwire"] > 0
        assert medians["websocketd"] > 0
        assert medians["ratio"] == pytest.approx(medians["longwire"] / medians["websocketd"])
