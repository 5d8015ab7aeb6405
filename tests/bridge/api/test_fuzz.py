"""Any JSON a peer sends is either a valid document or an ApiValidationError naming a field —
never another exception (no traceback for a bad request, no crashed client)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from api_strategies import MODEL_STRATEGIES
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware_bridge.api import ApiValidationError, Batch, parse_batch

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: _replace(node[head], rest, value)}
    copy = list(node)
    copy[head] = _replace(node[head], rest, value)
    return copy


@pytest.mark.parametrize("model", list(MODEL_STRATEGIES), ids=lambda m: m.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_mutated_document_is_accepted_or_refused_by_field(
    model: type[Any], data: st.DataObject
) -> None:
    document = json.loads(json.dumps(data.draw(MODEL_STRATEGIES[model]).to_json()))
    path = data.draw(st.sampled_from(_paths(document)))
    mutated = _replace(document, path, data.draw(json_values))
    with contextlib.suppress(ApiValidationError):
        model.from_json(mutated)


@settings(max_examples=200, deadline=None)
@given(document=json_values)
def test_any_json_as_a_batch_body(document: Any) -> None:
    with contextlib.suppress(ApiValidationError):
        parse_batch(json.dumps(document))


@pytest.mark.parametrize(
    "readings",
    [
        {"t0": 10**30, "s0": 1, "groups": []},
        {
            "t0": 0,
            "s0": 1,
            "groups": [
                {
                    "device": "d",
                    "keys": ["k"],
                    "units": [None],
                    "seq": [0],
                    "time": [10**30],
                    "columns": [[1]],
                }
            ],
        },
        {
            "t0": 0,
            "s0": 1,
            "groups": [
                {
                    "device": "d",
                    "keys": ["k"],
                    "units": [None],
                    "seq": [0],
                    "time": [0],
                    "columns": [{"scale": 0.1, "raw": [10**400]}],
                }
            ],
        },
        {
            "t0": 0,
            "s0": 1,
            "groups": [
                {
                    "device": "d",
                    "keys": ["k"],
                    "units": [None],
                    "seq": [0],
                    "time": [0],
                    "columns": [{"scale": 1e300, "raw": [10**10]}],
                }
            ],
        },
    ],
)
def test_out_of_range_numbers_are_refused_by_field(readings: dict[str, Any]) -> None:
    document = {
        "batch_id": "b",
        "first_seq": 1,
        "last_seq": 1,
        "created": "2026-11-30T00:00:00Z",
        "readings": readings,
    }
    with pytest.raises(ApiValidationError) as caught:
        Batch.from_json(document)
    assert caught.value.field.startswith("readings")


def test_a_column_mixing_huge_and_fractional_floats_is_encoded_exactly() -> None:
    from datetime import UTC, datetime

    from hardware_bridge.api import BatchReading, decode_batch, encode_batch

    time = datetime(2026, 11, 30, tzinfo=UTC)
    readings = tuple(
        BatchReading(
            seq=n + 1, device="d", key="k", value=v, unit=None, time=time.replace(second=n)
        )
        for n, v in enumerate([1.7e308, 0.5])
    )
    batch = Batch(batch_id="b", first_seq=1, last_seq=2, created=time, readings=readings)
    assert decode_batch(encode_batch(batch)) == batch
