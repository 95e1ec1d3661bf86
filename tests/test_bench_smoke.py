"""The benchmark scripts still run (a tiny smoke run; benchmarks are not tests)."""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_micro_benchmark_smoke_run():
    result = subprocess.run(
        [sys.executable, str(BENCH / "micro.py"), "--quick"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    for workload in ("ws-parse-32B", "ws-send-32B", "mask-16MiB", "http-parse-get", "http-cycle"):
        assert workload in result.stdout
