"""The public API: every name in __all__ exists, and nothing private leaks into it."""

import importlib
import typing

import pytest

import longwire

PUBLIC_MODULES = [
    "longwire", "longwire.http1", "longwire.websocket", "longwire.aio", "longwire.app",
    "longwire.realtime", "longwire.jsonrpc", "longwire.hub", "longwire.sse",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_names_exist_and_are_public(name):
    module = importlib.import_module(name)
    assert module.__all__, f"{name} has an empty __all__"
    for export in module.__all__:
        assert hasattr(module, export), f"{name}.{export} is in __all__ but missing"
        assert not export.startswith("_") or export == "__version__"


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_public_classes_and_functions_are_documented(name):
    module = importlib.import_module(name)
    assert module.__doc__
    for export in module.__all__:
        obj = getattr(module, export)
        if callable(obj) and typing.get_origin(obj) is None:  # type aliases have no __doc__
            assert obj.__doc__, f"{name}.{export} has no docstring"


def test_top_level_exports():
    assert set(longwire.__all__) >= {
        "LongwireError", "ProtocolError", "LocalProtocolError", "RemoteProtocolError",
        "HandshakeError", "ConnectionClosed", "Role", "__version__",
        "App", "Request", "Response", "StreamingResponse", "HTTPError",
        "WebSocket", "ReadyState", "connect", "Server", "ServerConfig", "run",
    }
    assert longwire.__version__.count(".") == 2


def test_protocol_errors_share_one_root():
    for error in (longwire.LocalProtocolError, longwire.RemoteProtocolError,
                  longwire.HandshakeError, longwire.ConnectionClosed):
        assert issubclass(error, longwire.LongwireError)
    error = longwire.RemoteProtocolError("bad", status_hint=431)
    assert (error.status_hint, error.close_code, str(error)) == (431, None, "bad")


def test_sans_io_cores_import_no_io_modules():
    import subprocess
    import sys

    # Compare with what the interpreter loads by itself (its startup may import threading).
    code = (
        "import sys; before = set(sys.modules); import longwire.http1, longwire.websocket; "
        "added = set(sys.modules) - before; "
        "print(sorted({'asyncio', 'socket', 'selectors', 'threading', 'time'} & added))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
