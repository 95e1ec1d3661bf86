"""The session protocol, sans-I/O: framing, sequencing, acks, resend, de-duplication."""

from __future__ import annotations

import pytest

from longwire.realtime._protocol import (
    Inbox,
    Outbox,
    ProtocolViolation,
    QueueOverflow,
    decode_packet,
    encode_packet,
    message_data,
    message_frame,
)


def test_text_and_binary_frames_round_trip() -> None:
    text = message_frame(1, "héllo")
    binary = message_frame(2, b"\x00\xff")
    assert text == {"t": "msg", "s": 1, "d": "héllo"}
    assert binary == {"t": "msg", "s": 2, "d": "AP8=", "b": 1}
    frames = decode_packet(encode_packet([text, binary]))
    assert [message_data(f) for f in frames] == ["héllo", b"\x00\xff"]
    assert encode_packet([text]) == '[{"t":"msg","s":1,"d":"héllo"}]'


@pytest.mark.parametrize(
    "packet",
    [
        "not json",
        '{"t":"msg"}',
        '[1]',
        '[{"t":"nope"}]',
        '[{"t":"msg","d":"x"}]',
        '[{"t":"msg","s":0,"d":"x"}]',
        '[{"t":"msg","s":true,"d":"x"}]',
        '[{"t":"ack","a":-1}]',
        '[{"t":"close","s":1,"code":999}]',
        '[{"t":"close","s":1,"reason":5}]',
    ],
)
def test_malformed_packets_are_refused(packet: str) -> None:
    with pytest.raises(ProtocolViolation):
        decode_packet(packet)


def test_bad_message_data_is_refused() -> None:
    with pytest.raises(ProtocolViolation):
        message_data({"t": "msg", "s": 1, "d": "@@@", "b": 1})
    with pytest.raises(ProtocolViolation):
        message_data({"t": "msg", "s": 1, "d": 5})


def test_outbox_numbers_keeps_and_forgets_on_ack() -> None:
    outbox = Outbox(limit=10)
    for word in ("a", "b", "c"):
        outbox.push_message(word)
    assert [f["s"] for f in outbox.after(0)] == [1, 2, 3]
    assert [f["d"] for f in outbox.after(1)] == ["b", "c"]
    assert outbox.after(3) == []
    outbox.ack(2)
    assert (len(outbox), outbox.acked) == (1, 2)
    # Resend after a reconnect: whatever is after the client's ack.
    assert [f["s"] for f in outbox.after(2)] == [3]
    assert [f["s"] for f in outbox.after(0)] == [3]  # acked frames are gone for good
    outbox.ack(1)  # stale: ignored
    assert outbox.acked == 2
    outbox.ack(99)  # beyond what was sent: clamped
    assert (len(outbox), outbox.acked) == (0, 3)


def test_outbox_limit_and_close() -> None:
    outbox = Outbox(limit=2)
    outbox.push_message("a")
    outbox.push_message(b"b")
    with pytest.raises(QueueOverflow):
        outbox.push_message("c")
    close = outbox.push_close(1000, "bye")  # never refused
    assert close == {"t": "close", "s": 3, "code": 1000, "reason": "bye"}
    assert outbox.last == 3


def test_inbox_takes_in_order_and_drops_duplicates_and_gaps() -> None:
    inbox = Inbox()
    frames = [message_frame(s, f"m{s}") for s in range(1, 6)]
    taken = [f["d"] for f in frames[:3] if inbox.accept(f)]
    assert (taken, inbox.last) == (["m1", "m2", "m3"], 3)
    # A resent batch (2..5) after a lost answer: 2 and 3 are duplicates.
    taken = [f["d"] for f in frames[1:] if inbox.accept(f)]
    assert (taken, inbox.last) == (["m4", "m5"], 5)
    # A gap (7 before 6) is not taken: the sender resends from its last ack.
    assert not inbox.accept(message_frame(7, "m7"))
    assert inbox.accept(message_frame(6, "m6"))
    assert inbox.last == 6


def test_exactly_once_over_a_lossy_channel() -> None:
    """A simulated link that loses and repeats packets: the receiver still gets
    every message once, in order, with the sender resending after the last ack."""
    sender, receiver = Outbox(limit=1000), Inbox()
    got: list[str | bytes] = []
    for i in range(200):
        sender.push_message(f"m{i}")
    rounds = 0
    while sender.acked < 200:
        rounds += 1
        batch = sender.after(sender.acked)[: 7 + rounds % 5]
        if rounds % 3 == 0:
            continue  # the packet is lost
        for frame in decode_packet(encode_packet(batch)):
            if receiver.accept(frame):
                got.append(message_data(frame))
        if rounds % 4 != 0:  # the ack is lost now and then
            sender.ack(receiver.last)
    assert got == [f"m{i}" for i in range(200)]
