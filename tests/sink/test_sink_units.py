"""Unit tests of the sink's pure parts: batch decoding, the subscription pattern, the audit hash."""

from __future__ import annotations

import re
from typing import Any

from connectors.sink.audit import GENESIS, canonical, link_hash
from connectors.sink.decode import BatchDecoder
from connectors.sink.tables import SUNK_TOPICS, changelog_regex, subscription_pattern
from schemas.codec import AvroCodec
from schemas.records import Fill, OrderEvent
from schemas.registry import FileRegistry
from streams.errors import DecodeError
from tests.sink.factories import make_audit, make_fill, make_order_event

CODEC = AvroCodec(FileRegistry())


def _encoded(n: int) -> list[bytes | None]:
    encode = CODEC.encoder("orders.events.v1", OrderEvent)
    return [encode(make_order_event(i)) for i in range(n)]


def test_block_decoding_equals_record_by_record_decoding() -> None:
    values = _encoded(50)

    decoded = BatchDecoder(CODEC).decode_many(values, OrderEvent)

    assert decoded == [CODEC.decode_dict(v, OrderEvent) for v in values if v is not None]


def test_body_with_trailing_bytes_is_poison_and_neighbours_decode_intact() -> None:
    values = _encoded(30)
    assert values[10] is not None
    values[10] = values[10] + b"\x02\x02"

    decoded = BatchDecoder(CODEC).decode_many(values, OrderEvent)

    assert isinstance(decoded[10], DecodeError)
    assert "trailing" in str(decoded[10])
    good = [d for i, d in enumerate(decoded) if i != 10]
    assert all(isinstance(d, dict) for d in good)
    assert [d["event_id"] for d in good] == [  # type: ignore[index]
        make_order_event(i).event_id for i in range(30) if i != 10
    ]


def test_truncated_body_unknown_schema_and_tombstone_are_poison() -> None:
    values = _encoded(20)
    assert values[3] is not None
    values[3] = values[3][:-4]
    values[4] = b"\x00\x00\x00\x7f\xffwhatever"
    values[5] = None

    decoded = BatchDecoder(CODEC).decode_many(values, OrderEvent)

    assert [i for i, d in enumerate(decoded) if isinstance(d, DecodeError)] == [3, 4, 5]


def test_value_of_another_record_type_is_poison() -> None:
    fill = CODEC.encode("exec.fills.v1", make_fill(1))
    values: list[bytes | None] = [*_encoded(10), fill]

    decoded = BatchDecoder(CODEC).decode_many(values, OrderEvent)

    assert isinstance(decoded[-1], DecodeError)
    assert all(isinstance(d, dict) for d in decoded[:-1])
    assert isinstance(BatchDecoder(CODEC).decode_many([fill] * 10, Fill)[0], dict)


def test_subscription_pattern_takes_sunk_topics_and_changelogs_but_not_dlqs() -> None:
    pattern = re.compile(subscription_pattern(SUNK_TOPICS, [changelog_regex("tradepipe")]))

    assert all(pattern.match(t) for t in SUNK_TOPICS)
    assert pattern.match("tradepipe-positions-changelog")
    assert not pattern.match("orders.events.v1.dlq")
    assert not pattern.match("md.ticks.v1")
    assert not pattern.match("other-positions-changelog")
    assert not pattern.match("ordersXevents.v1")


def test_audit_link_hash_changes_with_content_position_and_predecessor() -> None:
    event: dict[str, Any] = make_audit(1).to_avro()

    base = link_hash(GENESIS, 1, event)

    assert link_hash(GENESIS, 2, event) != base
    assert link_hash(b"\x01" * 32, 1, event) != base
    assert link_hash(GENESIS, 1, {**event, "outcome": "denied"}) != base
    assert canonical(1, event) == canonical(1, {**event, "details": dict(event["details"])})


async def test_chunked_build_equals_one_piece_build_and_skips_records_below_the_floor() -> None:
    from collections import namedtuple

    from connectors.sink.batching import build_batch, build_batch_yielding

    tp = namedtuple("tp", "topic partition")("orders.events.v1", 0)
    msg = namedtuple("msg", "offset key value")
    values = _encoded(23)
    values[7] = b"\x00garbage"
    data = {tp: [msg(100 + i, None, v) for i, v in enumerate(values)]}
    floors = {("orders.events.v1", 0): 102}

    whole, whole_poison = build_batch(data, BatchDecoder(CODEC), floors)
    chunked, chunked_poison = await build_batch_yielding(data, BatchDecoder(CODEC), floors, 4)

    assert chunked.rows == whole.rows
    assert len(chunked.rows["order_events"]) == 20  # 23, less 2 below the floor, less 1 poison
    assert [m.offset for m, _ in chunked_poison] == [m.offset for m, _ in whole_poison] == [107]
    assert chunked.offsets == whole.offsets == {("orders.events.v1", 0): 123}
    assert chunked.records == whole.records == 21


def test_frame_decoding_equals_record_by_record_decoding() -> None:
    values = _encoded(50)

    frame = BatchDecoder(CODEC).decode_frame(values, OrderEvent)

    assert frame is not None
    assert frame.rows() == [
        tuple(d.values())
        for d in BatchDecoder(CODEC).decode_many(values, OrderEvent)
        if isinstance(d, dict)
    ]


def test_frame_path_refuses_what_it_cannot_check() -> None:
    decoder = BatchDecoder(CODEC)
    values = _encoded(30)

    def refused(i: int, value: bytes | None) -> bool:
        changed = list(values)
        changed[i] = value
        return decoder.decode_frame(changed, OrderEvent) is None

    assert values[-1] is not None
    assert values[3] is not None
    assert refused(29, values[-1] + b"\x00")  # trailing bytes on the last body: the sentinel
    assert refused(10, values[10] + b"\x02\x02")  # polars reads it; the alignment check does not
    assert refused(3, values[3][:-4])
    assert refused(5, None)
    assert refused(4, b"\x00\x00\x00\x7f\xffwhatever")
    assert refused(0, CODEC.encode("exec.fills.v1", make_fill(1)))
    assert decoder.decode_frame(values[:4], OrderEvent) is None  # below min_block
