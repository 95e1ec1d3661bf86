"""longwire.jsonrpc's ``Methods`` and ``Peer``, over an in-memory transport: two peers
wired back to back, or one peer whose sent messages are recorded."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from jsonrpc_spec import SPEC_INVALID

from leakcheck import run_without_leaks
from longwire import ConnectionClosed
from longwire.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    OVERLOADED,
    Methods,
    Peer,
    RPCError,
)


def run(test: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return run_without_leaks(test(), timeout=10)


async def settle() -> None:
    """Let the handlers' tasks run (they need a few loop turns)."""
    for _ in range(20):
        await asyncio.sleep(0)


class Recorder:
    """A peer's ``send`` that keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def __call__(self, text: str) -> None:
        self.sent.append(text)

    def json(self) -> list[Any]:
        return [json.loads(text) for text in self.sent]


def pair(
    a_methods: Methods | None = None, b_methods: Methods | None = None, **options: Any
) -> tuple[Peer, Peer]:
    """Two peers whose ``send`` feeds the other."""
    a: Peer
    b: Peer

    async def to_b(text: str) -> None:
        await b.feed(text)

    async def to_a(text: str) -> None:
        await a.feed(text)

    a = Peer(to_b, a_methods, context="ctx-a", **options)
    b = Peer(to_a, b_methods, context="ctx-b", **options)
    return a, b


def spec_methods() -> Methods:
    """The methods the examples of the specification's §7 call."""
    methods = Methods()

    @methods.method()
    def subtract(minuend: int, subtrahend: int) -> int:
        return minuend - subtrahend

    @methods.method("sum")
    def sum_(*numbers: int) -> int:
        return sum(numbers)

    @methods.method()
    async def get_data() -> list[Any]:
        await asyncio.sleep(0)
        return ["hello", 5]

    methods.add("update", lambda *values: None)
    methods.add("notify_hello", lambda value: None)
    methods.add("notify_sum", lambda *values: None)
    return methods


def compact(text: str) -> str:
    return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


SPEC_EXCHANGES = [
    ('{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}',
     '{"jsonrpc": "2.0", "result": 19, "id": 1}'),
    ('{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}',
     '{"jsonrpc": "2.0", "result": -19, "id": 2}'),
    ('{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, '
     '"id": 3}',
     '{"jsonrpc": "2.0", "result": 19, "id": 3}'),
    ('{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, '
     '"id": 4}',
     '{"jsonrpc": "2.0", "result": 19, "id": 4}'),
    ('{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}', None),
    ('{"jsonrpc": "2.0", "method": "foobar"}', None),
    ('{"jsonrpc": "2.0", "method": "foobar", "id": "1"}',
     '{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}'),
    *SPEC_INVALID,
    ("""[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]""",
     """[
        {"jsonrpc": "2.0", "result": 7, "id": "1"},
        {"jsonrpc": "2.0", "result": 19, "id": "2"},
        {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
        {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
        {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}
    ]"""),
    ("""[
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ]""", None),
]


@pytest.mark.parametrize(("received", "answer"), SPEC_EXCHANGES)
def test_spec_examples_are_answered_byte_for_byte(received, answer):
    async def main() -> None:
        send = Recorder()
        peer = Peer(send, spec_methods())
        await peer.feed(received)
        await settle()
        assert send.sent == ([] if answer is None else [compact(answer)])
        assert peer.running == 0

    run(main)


def test_calls_both_ways_by_position_and_by_name():
    a_methods, b_methods = Methods(), Methods()

    @a_methods.method()
    def greet(name: str, punctuation: str = "!") -> str:
        return f"hello {name}{punctuation}"

    @b_methods.method("math.div")
    async def div(a: float, b: float) -> float:
        return a / b

    async def main() -> None:
        a, b = pair(a_methods, b_methods)
        assert await a.call("math.div", [1, 4]) == 0.25
        assert await a.call("math.div", {"b": 4, "a": 1}) == 0.25
        assert await a.call("math.div", (3, 1)) == 3
        assert await b.call("greet", ["bob"]) == "hello bob!"
        assert await b.call("greet", {"name": "ann", "punctuation": "?"}) == "hello ann?"
        assert (a.pending, b.pending, a.running, b.running) == (0, 0, 0, 0)

    run(main)


def test_errors_reach_the_caller():
    methods = Methods()

    @methods.method()
    def strict(x: int) -> int:
        return x

    @methods.method()
    def typo(x: int) -> int:
        return len(x)  # type: ignore[arg-type]  # a TypeError inside: no params problem

    @methods.method()
    def refuse() -> None:
        raise RPCError(4001, "not allowed", {"why": "because"})

    @methods.method()
    async def crash() -> None:
        raise KeyError("secret detail")

    @methods.method()
    def unencodable() -> object:
        return object()

    async def main() -> None:
        a, _ = pair(b_methods=methods)
        with pytest.raises(RPCError) as missing:
            await a.call("nope")
        assert missing.value == RPCError(METHOD_NOT_FOUND)
        for params in ([], [1, 2], {"y": 1}):
            with pytest.raises(RPCError) as bad:
                await a.call("strict", params)
            assert bad.value.code == INVALID_PARAMS
            assert isinstance(bad.value.data, str)
        with pytest.raises(RPCError) as inside:
            await a.call("typo", [1])
        assert inside.value == RPCError(INTERNAL_ERROR)
        with pytest.raises(RPCError) as refused:
            await a.call("refuse")
        assert refused.value == RPCError(4001, "not allowed", {"why": "because"})
        with pytest.raises(RPCError) as crashed:
            await a.call("crash")
        assert crashed.value == RPCError(INTERNAL_ERROR)
        assert "secret" not in str(crashed.value.to_json())
        with pytest.raises(RPCError) as unencoded:
            await a.call("unencodable")
        assert unencoded.value == RPCError(INTERNAL_ERROR)

    run(main)


def test_failures_are_logged_with_their_traceback(caplog):
    methods = Methods()
    methods.add("crash", lambda: 1 / 0)

    async def main() -> None:
        a, _ = pair(b_methods=methods)
        with pytest.raises(RPCError):
            await a.call("crash")

    with caplog.at_level(logging.ERROR, logger="longwire.jsonrpc"):
        run(main)
    [record] = caplog.records
    assert "'crash' failed" in record.getMessage()
    assert record.exc_info
    assert record.exc_info[0] is ZeroDivisionError


def test_context_is_passed_first_when_declared():
    with_context = Methods(context=True)
    seen: list[Any] = []

    @with_context.method()
    def who(ctx: Any, extra: int = 0) -> str:
        return f"{ctx}+{extra}"

    @with_context.method(context=False)
    def plain(x: int) -> int:
        return x

    without = Methods()
    without.add("record", lambda ctx, value: seen.append((ctx, value)), context=True)

    async def main() -> None:
        a, b = pair(without, with_context)
        assert await a.call("who") == "ctx-b+0"
        assert await a.call("who", {"extra": 2}) == "ctx-b+2"
        assert await a.call("plain", [5]) == 5
        with pytest.raises(RPCError) as clash:  # the context's parameter is not the caller's
            await a.call("who", {"ctx": 1})
        assert clash.value.code == INVALID_PARAMS
        await b.notify("record", [42])
        await settle()
        assert seen == [("ctx-a", 42)]

    run(main)


def test_a_slow_method_does_not_delay_others():
    methods = Methods()
    order: list[str] = []
    release = asyncio.Event

    @methods.method()
    async def slow(gate: str) -> str:
        await gates[gate].wait()
        order.append(gate)
        return gate

    gates: dict[str, asyncio.Event] = {}

    async def main() -> None:
        gates.update(first=release(), second=release())
        a, b = pair(b_methods=methods)
        first = asyncio.ensure_future(a.call("slow", ["first"]))
        second = asyncio.ensure_future(a.call("slow", ["second"]))
        await settle()
        assert b.running == 2
        gates["second"].set()
        assert await second == "second"
        assert not first.done()
        gates["first"].set()
        assert await first == "first"
        assert order == ["second", "first"]
        many = await asyncio.gather(*(a.call("slow", ["first"]) for _ in range(50)))
        assert many == ["first"] * 50

    run(main)


def test_timeouts():
    methods = Methods()

    @methods.method()
    async def never() -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        a, b = pair(b_methods=methods, timeout=0.05)
        with pytest.raises(TimeoutError, match="'never'"):
            await a.call("never")
        with pytest.raises(TimeoutError):
            await a.call("never", timeout=0.01)
        assert a.pending == 0
        assert b.running == 2  # the other end is still at it: its answer will be dropped
        b.close()
        await b.wait_closed()
        assert b.running == 0

    run(main)


def test_no_timeout():
    methods = Methods()

    @methods.method()
    async def later() -> str:
        await asyncio.sleep(0.05)
        return "done"

    async def main() -> None:
        a, _ = pair(b_methods=methods, timeout=0.01)
        assert await a.call("later", timeout=None) == "done"

    run(main)


def test_close_fails_pending_calls_and_cancels_handlers():
    methods = Methods()
    cancelled: list[bool] = []

    @methods.method()
    async def hang() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        a, b = pair(methods, methods)
        calls = [asyncio.ensure_future(a.call("hang")) for _ in range(3)]
        await settle()
        assert (a.pending, b.running) == (3, 3)
        await b.notify("hang")
        await settle()
        assert a.running == 1
        closed = ConnectionClosed(1001, "going away")
        a.close(closed)
        for call in calls:
            with pytest.raises(ConnectionClosed) as info:
                await call
            assert info.value is closed
        await a.wait_closed()
        assert cancelled == [True]
        assert (a.pending, a.running, a.closed) == (0, 0, True)
        with pytest.raises(ConnectionClosed) as later:
            await a.call("hang")
        assert (later.value.code, later.value.reason) == (1001, "going away")
        with pytest.raises(ConnectionClosed):
            await a.notify("hang")
        await a.feed('{"jsonrpc":"2.0","method":"hang","id":1}')  # ignored once closed
        assert a.running == 0
        a.close(RuntimeError("second close: ignored"))
        b.close(RuntimeError("transport failed"))
        await b.wait_closed()
        with pytest.raises(ConnectionClosed) as caused:
            await b.call("x")
        assert isinstance(caused.value.__cause__, RuntimeError)

    run(main)


def test_close_by_default_is_a_normal_closure():
    async def main() -> None:
        peer = Peer(Recorder())
        call = asyncio.ensure_future(peer.call("x"))
        await settle()
        peer.close()
        with pytest.raises(ConnectionClosed) as info:
            await call
        assert info.value.code == 1000

    run(main)


def test_batches_run_concurrently_and_answer_in_one_array():
    methods = Methods()
    both = asyncio.Event

    @methods.method()
    async def meet(name: str) -> str:
        arrived.append(name)
        if len(arrived) == 2:
            together.set()
        await together.wait()  # only returns if both run at once
        return name

    arrived: list[str] = []
    together: asyncio.Event

    async def main() -> None:
        nonlocal together
        together = both()
        send = Recorder()
        peer = Peer(send, methods)
        await peer.feed(
            '[{"jsonrpc":"2.0","method":"meet","params":["a"],"id":1},'
            '{"jsonrpc":"2.0","method":"meet","params":["b"]},'
            '{"jsonrpc":"2.0","method":"nope","id":2},'
            '{"jsonrpc":"2.0","result":"stray","id":99}]'
        )
        await settle()
        assert send.json() == [[
            {"jsonrpc": "2.0", "result": "a", "id": 1},
            {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": 2},
        ]]

    run(main)


def test_responses_in_a_batch_resolve_calls():
    async def main() -> None:
        send = Recorder()
        peer = Peer(send)
        calls = [asyncio.ensure_future(peer.call("m", [n])) for n in range(3)]
        await settle()
        ids = [message["id"] for message in send.json()]
        assert ids == [1, 2, 3]
        await peer.feed(json.dumps([
            {"jsonrpc": "2.0", "result": "one", "id": 1},
            {"jsonrpc": "2.0", "error": {"code": 7, "message": "seven"}, "id": 3},
            {"jsonrpc": "2.0", "result": "two", "id": 2},
        ]))
        assert await calls[0] == "one"
        assert await calls[1] == "two"
        with pytest.raises(RPCError) as error:
            await calls[2]
        assert error.value == RPCError(7, "seven")
        assert len(send.sent) == 3  # responses are never answered

    run(main)


def test_stray_answers_are_dropped_not_answered():
    async def main() -> None:
        send = Recorder()
        peer = Peer(send)
        await peer.feed('{"jsonrpc":"2.0","result":1,"id":5}')
        await peer.feed('{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},'
                        '"id":null}')
        await settle()
        assert send.sent == []

    run(main)


def test_a_peer_without_methods_answers_method_not_found():
    async def main() -> None:
        send = Recorder()
        peer = Peer(send)
        await peer.feed('{"jsonrpc":"2.0","method":"x","id":1}')
        await peer.feed('{"jsonrpc":"2.0","method":"x"}')
        await settle()
        assert send.json() == [
            {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": 1}
        ]

    run(main)


def test_max_batch():
    async def main() -> None:
        send = Recorder()
        peer = Peer(send, spec_methods(), max_batch=2)
        one = {"jsonrpc": "2.0", "method": "sum", "params": [1], "id": 1}
        await peer.feed(json.dumps([one, one]))
        await peer.feed(json.dumps([one, one, one]))
        await settle()
        over, ok = send.json()  # refused at once; the batch run is answered after
        assert len(ok) == 2
        assert over["id"] is None
        assert over["error"]["code"] == INVALID_REQUEST
        assert over["error"]["data"] == "a batch of 3 is over the limit of 2"
        assert peer.running == 0

    run(main)


def test_max_pending_bounds_both_directions(caplog):
    methods = Methods()

    @methods.method()
    async def wait() -> None:
        await gate.wait()

    gate: asyncio.Event

    async def main() -> None:
        nonlocal gate
        gate = asyncio.Event()
        send = Recorder()
        peer = Peer(send, methods, max_pending=2)
        for n in range(2):
            await peer.feed(json.dumps({"jsonrpc": "2.0", "method": "wait", "id": n}))
        await peer.feed('{"jsonrpc":"2.0","method":"wait","id":"over"}')
        await peer.feed('{"jsonrpc":"2.0","method":"wait"}')  # dropped, with a warning
        await peer.feed('[{"jsonrpc":"2.0","method":"wait","id":"in-batch"}]')
        await settle()
        assert send.json() == [
            {"jsonrpc": "2.0", "error": {"code": OVERLOADED,
             "message": "Too many requests in progress"}, "id": "over"},
            [{"jsonrpc": "2.0", "error": {"code": OVERLOADED,
              "message": "Too many requests in progress"}, "id": "in-batch"}],
        ]
        gate.set()
        await settle()
        assert peer.running == 0
        send.sent.clear()
        calls = [asyncio.ensure_future(peer.call("x")) for _ in range(2)]
        await settle()
        with pytest.raises(RPCError) as busy:
            await peer.call("x")
        assert busy.value.code == OVERLOADED
        assert len(send.sent) == 2  # the refused call sent nothing
        peer.close()
        await asyncio.gather(*calls, return_exceptions=True)

    with caplog.at_level(logging.WARNING, logger="longwire.jsonrpc"):
        run(main)
    assert any("notification 'wait' dropped" in r.getMessage() for r in caplog.records)


def test_limits_are_checked():
    for options in ({"timeout": 0}, {"timeout": -1}, {"max_batch": 0}, {"max_pending": 0},
                    {"max_batch": 1.5}, {"max_pending": True}):
        with pytest.raises(ValueError, match="must be"):
            Peer(Recorder(), **options)
    Peer(Recorder(), timeout=None, max_batch=None, max_pending=None)


def test_params_that_cannot_be_sent():
    async def main() -> None:
        peer = Peer(Recorder())
        with pytest.raises(TypeError):
            await peer.call("x", "scalar")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await peer.notify("x", [object()])
        assert peer.pending == 0

    run(main)


# Methods, the registry.


def test_registration():
    methods = Methods()

    @methods.method()
    def one() -> int:
        return 1

    methods.add("two", lambda: 2)
    assert list(methods) == ["one", "two"]
    assert "one" in methods
    assert len(methods) == 2
    with pytest.raises(ValueError, match="already"):
        methods.add("one", lambda: 1)
    with pytest.raises(ValueError, match="reserved"):
        methods.add("rpc.discover", lambda: 1)
    with pytest.raises(ValueError, match="non-empty"):
        methods.add("", lambda: 1)
    with pytest.raises(TypeError):
        methods.add("three", 3)  # type: ignore[arg-type]


def test_methods_call_and_respond_directly():
    methods = Methods()
    methods.add("len", len)  # a builtin whose signature may not be inspectable
    methods.add("echo", lambda *args, **kwargs: [args, kwargs])

    async def main() -> None:
        assert await methods.call("len", [[1, 2]]) == 2
        assert await methods.call("echo", {"a": 1}) == [(), {"a": 1}]
        with pytest.raises(RPCError):
            await methods.call("len", [])
        from longwire.jsonrpc import ErrorResponse, Notification, Request, Response

        assert await methods.respond(Request("echo", [1], 5)) == Response(5, [(1,), {}])
        assert await methods.respond(Request("no", None, 5)) == ErrorResponse(
            5, RPCError(METHOD_NOT_FOUND)
        )
        assert await methods.respond(Notification("echo")) is None

    run(main)
