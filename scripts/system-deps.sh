#!/usr/bin/env bash
# Install the system programs the test suite drives as real peers, if missing:
# curl (HTTP interop and SSE tests), wrk (the benchmark smoke test's HTTP load),
# websocketd (the peer of `longwire exec` in bench/exec_bench.py) and chromium
# (the browser tests, tests/browser, drive /usr/bin/chromium headless through
# Playwright; Playwright's own browser download is never used), redis-server
# (the redis:// hub broker's tests start their own, tests/redis_server.py) and
# nginx (a reverse proxy in front of several hub nodes).
# Each name is both the Debian package and the command it installs.
set -euo pipefail
missing=()
for tool in curl wrk websocketd chromium redis-server nginx; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
((${#missing[@]} == 0)) && exit 0
echo "installing system packages: ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "error: please install ${missing[*]} (Debian/Ubuntu: apt-get install ${missing[*]})" >&2
    exit 1
fi
