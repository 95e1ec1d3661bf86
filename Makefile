# The two quick-start commands (README): `make demo` and `make test`.
# Both create .venv with the interpreter below and install what they need into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where a C compiler exists the speedups must build, and the tests check they did.
REQUIRE_SPEEDUPS := $(if $(shell command -v cc 2>/dev/null),1,0)

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The demo server in the foreground: open http://127.0.0.1:8000/, Ctrl+C stops it.
demo: $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	$(BIN)/longwire serve

test: $(BIN)/python
	bash scripts/system-deps.sh
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,dev]'
	$(BIN)/ruff check .
	$(BIN)/mypy
	LONGWIRE_REQUIRE_SPEEDUPS=$(REQUIRE_SPEEDUPS) $(BIN)/python -m pytest
	@echo "-- the WebSocket core again on the pure-Python masking path --"
	LONGWIRE_NO_SPEEDUPS=1 $(BIN)/python -m pytest -q tests/websocket tests/interop

bench: $(BIN)/python
	bash scripts/system-deps.sh
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(BIN)/python bench/micro.py
	$(BIN)/python bench/servers_bench.py
	$(BIN)/python bench/exec_bench.py
	$(BIN)/python bench/static_bench.py
	$(BIN)/python bench/sse_bench.py
	$(BIN)/python bench/longpoll_bench.py
	$(BIN)/python bench/asgi_bench.py
	$(BIN)/python bench/broadcast_bench.py

clean:
	rm -rf $(VENV) build src/*.egg-info src/longwire/*.so
