"""The batch body: the column forms the encoder picks, and the refusals of a bad body."""

from __future__ import annotations

import gzip
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hardware_bridge.api import (
    Alarm,
    ApiValidationError,
    Batch,
    BatchEvent,
    BatchReading,
    Gap,
    decode_batch,
    encode_batch,
    parse_batch,
    to_millisecond,
)

T0 = datetime(2026, 11, 30, 0, 15, 0, 512_000, tzinfo=UTC)


def _poll(
    seq: int, time: datetime, values: dict[str, Any], device: str = "sdm630"
) -> list[BatchReading]:
    return [
        BatchReading(seq=seq + n, device=device, key=key, value=value, unit="V", time=time)
        for n, (key, value) in enumerate(values.items())
    ]


def _batch(readings: list[BatchReading], **kwargs: Any) -> Batch:
    last = max([r.seq for r in readings], default=1)
    return Batch(
        batch_id="b1",
        first_seq=kwargs.pop("first_seq", 1),
        last_seq=kwargs.pop("last_seq", last),
        created=T0,
        readings=tuple(readings),
        **kwargs,
    )


def test_columns_take_the_exact_compact_form() -> None:
    readings: list[BatchReading] = []
    for n in range(3):
        readings += _poll(
            1 + 5 * n,
            T0 + timedelta(seconds=10 * n),
            {
                "float32": [229.89999389648438, 230.10000610351562, 229.8000030517578][n],
                "scaled": [2291 * 0.1, 2293 * 0.1, 2290 * 0.1][n],
                "counter": [1000, 1003, 1010][n],
                "flag": [True, False, True][n],
                "maybe": [1.5, None, 2.5][n],
            },
        )
    document = _batch(readings).to_json()
    (group,) = document["readings"]["groups"]
    assert group["seq"] == [0, 5, 5]
    assert group["time"] == [0, 10_000, 10_000]
    assert group["columns"] == [
        {"f32": [229.9, 230.1, 229.8]},
        {"scale": 0.1, "raw": [2291, 2, -3]},
        {"int": [1000, 3, 7]},
        [True, False, True],
        [1.5, None, 2.5],
    ]
    assert decode_batch(encode_batch(_batch(readings))) == _batch(readings)


def test_a_double_that_is_no_float32_is_sent_as_it_is() -> None:
    readings = _poll(1, T0, {"v": math.pi})  # neither a scaled integer nor a float32
    (group,) = _batch(readings).to_json()["readings"]["groups"]
    assert group["columns"] == [[math.pi]]


def test_polls_of_different_devices_and_key_sets_are_separate_groups() -> None:
    readings = _poll(1, T0, {"a": 1, "b": 2}) + _poll(3, T0, {"a": 1}, device="meter")
    readings += _poll(4, T0 + timedelta(seconds=1), {"a": 3})
    groups = _batch(readings).to_json()["readings"]["groups"]
    assert [(g["device"], g["keys"]) for g in groups] == [
        ("sdm630", ["a", "b"]),
        ("meter", ["a"]),
        ("sdm630", ["a"]),
    ]
    assert decode_batch(encode_batch(_batch(readings))).readings == tuple(readings)


def test_times_keep_the_millisecond_and_refuse_finer() -> None:
    assert to_millisecond(T0 + timedelta(microseconds=999)) == T0
    with pytest.raises(ApiValidationError, match="whole milliseconds"):
        BatchReading(
            seq=1, device="d", key="k", value=1, unit=None, time=T0 + timedelta(microseconds=1)
        )
    with pytest.raises(ApiValidationError, match="time zone"):
        BatchReading(seq=1, device="d", key="k", value=1, unit=None, time=datetime(2026, 1, 1))


def test_sequence_numbers_never_repeat_and_stay_in_range() -> None:
    alarm = Alarm(kind="mains_lost", time=T0)
    with pytest.raises(ApiValidationError) as caught:
        _batch(_poll(1, T0, {"a": 1, "b": 2}), events=(BatchEvent(seq=2, alarm=alarm),))
    assert caught.value.field in {"events[0].seq", "readings[1].seq"}
    with pytest.raises(ApiValidationError) as caught:
        _batch(_poll(1, T0, {"a": 1}), gaps=(Gap(first_seq=1, last_seq=3, count=3),), last_seq=3)
    assert caught.value.field.startswith("gaps[0]") or caught.value.field == "readings[0].seq"
    with pytest.raises(ApiValidationError) as caught:
        _batch(_poll(5, T0, {"a": 1}), first_seq=1, last_seq=4)
    assert caught.value.field == "readings[0].seq"
    with pytest.raises(ApiValidationError, match="count"):
        Gap(first_seq=1, last_seq=2, count=3)


def _body(document: dict[str, Any]) -> bytes:
    return gzip.compress(json.dumps(document).encode())


def _good() -> dict[str, Any]:
    return _batch(_poll(1, T0, {"voltage_l1": 230.5, "voltage_l2": 231.0})).to_json()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["readings"]["groups"][0]["columns"].pop(), "readings.groups[0].columns"),
        (
            lambda d: d["readings"]["groups"][0]["columns"].__setitem__(1, [1, 2]),
            "readings.groups[0].columns[1]",
        ),
        (
            lambda d: d["readings"]["groups"][0]["columns"].__setitem__(1, {"raw": [1]}),
            "readings.groups[0].columns[1].scale",
        ),
        (
            lambda d: d["readings"]["groups"][0]["columns"].__setitem__(1, {"f32": ["x"]}),
            "readings.groups[0].columns[1].f32[0]",
        ),
        (
            lambda d: d["readings"]["groups"][0]["columns"].__setitem__(1, {"f32": [1e300]}),
            "readings.groups[0].columns[1].f32[0]",
        ),
        (
            lambda d: d["readings"]["groups"][0]["seq"].__setitem__(0, 1.5),
            "readings.groups[0].seq[0]",
        ),
        (
            lambda d: d["readings"]["groups"][0]["keys"].__setitem__(0, "Bad Key"),
            "readings.groups[0].keys[0]",
        ),
        (lambda d: d["readings"]["groups"][0]["units"].pop(), "readings.groups[0].units"),
        (lambda d: d["readings"]["groups"][0]["time"].append(5), "readings.groups[0].time"),
        (lambda d: d.__setitem__("last_seq", 0), "last_seq"),
        (lambda d: d.pop("batch_id"), "batch_id"),
        (lambda d: d.__setitem__("gaps", [{"first_seq": 1}]), "gaps[0].last_seq"),
        (
            lambda d: d.__setitem__(
                "modem", {"registration": "lost", "time": "2026-11-30T00:00:00Z"}
            ),
            "modem.registration",
        ),
    ],
)
def test_bad_body_names_the_field(change: Any, field: str) -> None:
    document = _good()
    change(document)
    with pytest.raises(ApiValidationError) as caught:
        decode_batch(_body(document))
    assert caught.value.field == field


def test_body_that_is_not_gzip_json() -> None:
    with pytest.raises(ApiValidationError, match="not gzip"):
        decode_batch(json.dumps(_good()).encode())
    with pytest.raises(ApiValidationError, match="truncated"):
        decode_batch(_body(_good())[:-12])
    with pytest.raises(ApiValidationError, match="not JSON"):
        decode_batch(gzip.compress(b"{nope"))


def test_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(b" " * 5_000_000)
    assert len(bomb) < 10_000
    with pytest.raises(ApiValidationError, match="more than 1000000 bytes"):
        decode_batch(bomb, max_bytes=1_000_000)


def test_inflated_body_parses_like_the_gzip_one() -> None:
    batch = _batch(_poll(1, T0, {"voltage_l1": 230.5}))
    assert parse_batch(json.dumps(batch.to_json()).encode()) == batch
    with pytest.raises(ApiValidationError, match="not JSON"):
        parse_batch(b"\x1f\x8b")
