"""docs/jsonrpc.md: its example runs and does what the page says."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import longwire.jsonrpc
from leakcheck import run_without_leaks
from longwire import App
from longwire.jsonrpc import DEFAULT_MAX_BATCH, DEFAULT_MAX_PENDING, DEFAULT_TIMEOUT

PAGE = Path(__file__).resolve().parents[2] / "docs" / "jsonrpc.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.DOTALL)


def test_the_example_runs_as_a_script(capsys):
    [code] = [block for block in python_blocks() if block.startswith("# rpc_app.py\n")]
    namespace: dict = {"__name__": "rpc_app"}
    exec(compile(code, "rpc_app.py", "exec"), namespace)
    assert isinstance(namespace["app"], App)
    run_without_leaks(namespace["main"](), timeout=20)
    assert capsys.readouterr().out == "the JSON-RPC example works\n"


def test_the_methods_block_runs():
    [code] = [block for block in python_blocks() if block.startswith("from longwire.jsonrpc")]
    namespace: dict = {}
    exec(compile(code, "methods.py", "exec"), namespace)
    assert list(namespace["methods"]) == ["ping", "users.get", "echo"]


def test_the_documented_defaults_are_the_real_ones():
    text = PAGE.read_text()
    assert (DEFAULT_TIMEOUT, DEFAULT_MAX_BATCH, DEFAULT_MAX_PENDING) == (30.0, 100, 1000)
    assert f"| `timeout` | `{DEFAULT_TIMEOUT}` |" in text
    assert f"| `max_batch` | `{DEFAULT_MAX_BATCH}` |" in text
    assert f"| `max_pending` | `{DEFAULT_MAX_PENDING}` |" in text
    for name in ("timeout", "max_batch", "max_pending", "require_subprotocol"):
        assert f"`{name}`" in text
    assert longwire.jsonrpc.__doc__ is not None


def test_app_jsonrpc_defaults_are_the_peer_defaults():
    parameters = inspect.signature(App.jsonrpc).parameters
    assert parameters["timeout"].default == DEFAULT_TIMEOUT
    assert parameters["max_batch"].default == DEFAULT_MAX_BATCH
    assert parameters["max_pending"].default == DEFAULT_MAX_PENDING
