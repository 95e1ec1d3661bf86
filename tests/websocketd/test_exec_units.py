"""The sans-I/O pieces of websocketd mode: line cutting, the CGI environment, the options."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

import longwire.websocketd
from longwire.app import Request
from longwire.http1 import Headers
from longwire.websocketd import ExecOptions, describe_exit
from longwire.websocketd._env import base_environ, request_environ
from longwire.websocketd._lines import LineBuffer

# LineBuffer


def test_lines_are_cut_at_lf_without_terminators():
    lines = LineBuffer(100)
    assert lines.feed(b"one\ntwo\r\nthr") == [b"one", b"two"]
    assert lines.feed(b"ee\n\n") == [b"three", b""]
    assert lines.feed(b"tail") == []
    assert lines.flush() == b"tail"
    assert lines.flush() is None


def test_a_lone_cr_is_data_and_a_final_cr_is_dropped():
    lines = LineBuffer(100)
    assert lines.feed(b"a\rb\n") == [b"a\rb"]
    assert lines.feed(b"end\r") == []
    assert lines.flush() == b"end"


def test_one_line_fast_path():
    lines = LineBuffer(100)
    assert lines.feed(b"single\n") == [b"single"]
    assert lines.feed(b"crlf\r\n") == [b"crlf"]
    assert lines.feed(b"\n") == [b""]


def test_long_lines_come_out_in_pieces_and_are_counted():
    lines = LineBuffer(4)
    assert lines.feed(b"abcdefghij\nxy\n") == [b"abcd", b"efgh", b"ij", b"xy"]
    assert lines.split_lines == 1
    # Without a newline yet: nothing over the limit is held.
    assert lines.feed(b"0123456") == [b"0123"]
    assert lines.feed(b"789\n") == [b"4567", b"89"]


def test_pieces_are_cut_between_utf8_characters():
    lines = LineBuffer(5)
    text = "aé€😀b"  # 1, 2, 3, 4 and 1 bytes
    pieces = lines.feed(text.encode() + b"\n")
    assert b"".join(pieces) == text.encode()
    assert all(len(p) <= 5 for p in pieces)
    assert [p.decode() for p in pieces] == ["aé", "€", "😀b"]


LINE_CONTENT = st.binary(max_size=30).filter(lambda b: b"\n" not in b and b"\r" not in b)


@given(
    st.lists(LINE_CONTENT, max_size=10),
    st.lists(st.integers(min_value=0, max_value=200), max_size=10),
    st.integers(min_value=1, max_value=50),
)
def test_any_chopping_gives_the_same_content(lines_in, cuts, limit):
    stream = b"\n".join(lines_in) + b"\n" if lines_in else b""
    points = sorted({min(c, len(stream)) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    buffer = LineBuffer(limit)
    out: list[bytes] = []
    for chunk in chunks:
        out += buffer.feed(chunk)
        assert len(buffer._partial) <= limit
    rest = buffer.flush()
    if rest is not None:
        out.append(rest)
    assert all(len(line) <= limit for line in out)
    # Joined back, the pieces hold every byte but the terminators.
    assert b"".join(out) == b"".join(lines_in)


# The environment


def request(target: str = "/ws/a?b=c", headers: list[tuple[str, str]] | None = None) -> Request:
    fields = headers if headers is not None else [("Host", "example.com:8080")]
    return Request("GET", target, Headers(fields), client=("10.0.0.1", 5555))


def test_request_environment():
    env = request_environ(
        request(headers=[("Host", "example.com:8080"), ("Accept", "a"), ("accept", "b")]),
        {"PATH": "/bin"},
        script_name="/ws",
    )
    assert env["PATH"] == "/bin"
    assert env["REMOTE_ADDR"] == "10.0.0.1"
    assert env["REMOTE_PORT"] == "5555"
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "8080")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"], env["QUERY_STRING"]) == ("/ws", "/a", "b=c")
    assert env["HTTP_ACCEPT"] == "a, b"
    assert "HTTPS" not in env


@pytest.mark.parametrize(
    ("host", "scheme", "expected"),
    [
        ("example.com", "http", ("example.com", "80")),
        ("example.com", "https", ("example.com", "443")),
        ("[::1]:9000", "http", ("::1", "9000")),
        ("[::1]", "https", ("::1", "443")),
        ("h:", "http", ("h", "80")),
    ],
)
def test_server_name_and_port_from_host(host, scheme, expected):
    req = Request("GET", "/", Headers([("Host", host)]), scheme=scheme)
    env = request_environ(req, {}, script_name="")
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == expected
    assert ("HTTPS" in env) == (scheme == "https")


def test_no_host_and_no_client():
    env = request_environ(Request("GET", "/", Headers()), {}, script_name="")
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("", "80")
    assert env["REMOTE_ADDR"] == env["REMOTE_PORT"] == ""


def test_nul_in_a_decoded_path_is_dropped():
    env = request_environ(request("/ws/a%00b"), {}, script_name="/ws")
    assert env["PATH_INFO"] == "/ab"


def test_the_proxy_header_is_not_passed():
    headers = [("Proxy", "http://x"), ("Host", "h")]
    env = request_environ(request(headers=headers), {}, script_name="")
    assert "HTTP_PROXY" not in env


def test_base_environment_passes_only_what_is_named():
    env = base_environ(("PATH", "MISSING"), {"PATH": "/usr/bin", "SECRET": "x"})
    assert env == {"PATH": "/usr/bin", "SERVER_SOFTWARE": longwire.websocketd.SERVER_SOFTWARE}


# Options and exit descriptions


def test_exit_descriptions():
    assert describe_exit(0) == "exit status 0"
    assert describe_exit(3) == "exit status 3"
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(-15) == "killed by SIGTERM"
    assert describe_exit(-200) == "killed by signal 200"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"path": "ws"}, "path must start with '/'"),
        ({"path": "/{x}"}, "cannot contain"),
        ({"sse_path": "events"}, "sse_path must start"),
        ({"sse": True, "binary": True}, "cannot be combined"),
        ({"max_processes": 0}, "max_processes"),
        ({"kill_grace": 0}, "kill_grace must be positive"),
        ({"kill_grace": float("nan")}, "kill_grace must be positive"),
        ({"sse_heartbeat": -1}, "sse_heartbeat must be positive"),
        ({"max_line_size": 0}, "max_line_size"),
        ({"client_buffer": 0}, "client_buffer"),
        ({"sse_history": -1}, "sse_history"),
        ({"passenv": ("A=B",)}, "not an environment variable name"),
    ],
)
def test_bad_options_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        ExecOptions(**changes)


def test_options_defaults_are_the_named_constants():
    options = ExecOptions()
    assert options.max_processes == longwire.websocketd.DEFAULT_MAX_PROCESSES
    assert options.kill_grace == longwire.websocketd.DEFAULT_KILL_GRACE
    assert options.max_line_size == longwire.websocketd.DEFAULT_MAX_LINE_SIZE
    assert options.client_buffer == longwire.websocketd.DEFAULT_CLIENT_BUFFER
    assert options.sse_heartbeat == longwire.websocketd.DEFAULT_SSE_HEARTBEAT
    assert options.sse_history == longwire.websocketd.DEFAULT_SSE_HISTORY
    assert options.passenv == longwire.websocketd.DEFAULT_PASSENV
    assert options.event_path == "/"
    assert ExecOptions(path="/ws").event_path == "/ws"
    assert ExecOptions(path="/ws", sse_path="/ev").event_path == "/ev"
    assert ExecOptions(max_processes=None).max_processes is None
    with pytest.raises(TypeError):
        ExecOptions(passenv="PATH")  # type: ignore[arg-type]


def test_every_option_is_documented():
    doc = ExecOptions.__doc__ or ""
    for field in dataclasses.fields(ExecOptions):
        assert f"{field.name}:" in doc


def test_exports():
    module = longwire.websocketd
    assert module.__doc__
    for name in module.__all__:
        assert hasattr(module, name), name
        assert not name.startswith("_")
        obj = getattr(module, name)
        if callable(obj):
            assert obj.__doc__, name
