from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from notifications.stream import sse
from tests.sse_client import Parser


def parse(frames: bytes) -> Parser:
    parser = Parser()
    parser.feed(frames)
    return parser


def test_retry_frame() -> None:
    assert sse.retry(2000) == b"retry: 2000\n"
    parser = parse(sse.retry(1500) + sse.event("connected", "{}"))
    assert parser.retry == 1500
    assert [e.event for e in parser.events] == ["connected"]


def test_event_with_id() -> None:
    frame = sse.event("notification", '{"a":1}', id=7)
    assert frame == b'id: 7\nevent: notification\ndata: {"a":1}\n\n'
    [event] = parse(frame).events
    assert (event.event, event.id, event.json()) == ("notification", "7", {"a": 1})


def test_multiline_data_becomes_several_data_lines() -> None:
    frame = sse.event("x", "one\ntwo\r\nthree\rfour")
    assert frame.count(b"data: ") == 4
    [event] = parse(frame).events
    assert event.data == "one\ntwo\nthree\nfour"


def test_single_line_fields_cannot_be_broken() -> None:
    frame = sse.event("evil\nevent: other", "x", id="1\r\nid: 99\0")
    parser = parse(frame)
    assert len(parser.events) == 1
    assert parser.events[0].event == "evilevent: other"
    assert parser.events[0].id == "1id: 99"


def test_comment_is_not_an_event() -> None:
    parser = parse(sse.comment("hello\nevent: x\ndata: y") + sse.HEARTBEAT)
    assert parser.events == []
    assert parser.comments == ["helloevent: xdata: y", "heartbeat"]


def test_json_is_one_line_and_ascii() -> None:
    text = sse.encode_json({"title": "line\nbreak\r\u2028\0é"})
    assert "\n" not in text and "\r" not in text and text.isascii()


payload_text = st.text(
    alphabet=st.characters(codec="utf-8"),
    max_size=200,
) | st.sampled_from(["data: x\n\nevent: read", "\r\n\r\n", "id: 5\n", ": comment\n\n", "\0"])


@given(
    title=payload_text,
    body=payload_text,
    kind=payload_text,
    data=st.dictionaries(payload_text, payload_text | st.integers(), max_size=4),
    seq=st.integers(min_value=1, max_value=2**63 - 1),
)
def test_any_payload_survives_framing(
    title: str, body: str, kind: str, data: dict[str, object], seq: int
) -> None:
    payload = {"seq": seq, "title": title, "body": body, "kind": kind, "data": data}
    frames = sse.json_event("notification", payload, id=seq) + sse.HEARTBEAT
    frames += sse.json_event("read", {"ids": [seq]})
    parser = parse(frames)
    assert [e.event for e in parser.events] == ["notification", "read"]
    assert parser.events[0].id == str(seq)
    assert json.loads(parser.events[0].data) == payload
