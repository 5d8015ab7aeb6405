"""The API model: every type survives to_json → JSON text → from_json unchanged, and bad input
is refused with the field it concerns."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from api_strategies import MODEL_STRATEGIES
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware_bridge.api import (
    ApiValidationError,
    Batch,
    Claim,
    ClaimRequest,
    Command,
    DeviceDescription,
    Enrolment,
    PointDescription,
    Reading,
    ReadingsPage,
    TerminalDescription,
    decode_batch,
    encode_batch,
    wire_value,
)
from hardware_bridge.models import MeasurementSpec, PollGroup


def _wire(document: dict[str, Any]) -> Any:
    return json.loads(json.dumps(document, allow_nan=False))


@pytest.mark.parametrize("model", list(MODEL_STRATEGIES), ids=lambda m: m.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_round_trip(model: type[Any], data: st.DataObject) -> None:
    value = data.draw(MODEL_STRATEGIES[model])
    assert model.from_json(_wire(value.to_json())) == value


@settings(max_examples=150, deadline=None)
@given(batch=MODEL_STRATEGIES[Batch])
def test_batch_body_round_trip_is_exact(batch: Batch) -> None:
    """Through gzip and the columnar encoding: every value's type and float bits, None, and
    every time to the millisecond come back."""
    back = decode_batch(encode_batch(batch))
    assert back == batch
    for before, after in zip(batch.readings, back.readings, strict=True):
        assert type(before.value) is type(after.value)
        assert repr(before.value) == repr(after.value)
        assert before.time == after.time


def test_point_description_mirrors_measurement_spec() -> None:
    spec = MeasurementSpec(
        key="energy_import_total",
        name="Imported energy",
        unit="kWh",
        device_class="energy",
        state_class="total_increasing",
        precision=3,
        group=PollGroup.SLOW,
        enabled_by_default=True,
    )
    assert PointDescription.from_spec(spec).to_spec() == spec
    # relays and inputs are described apart (IoDescription), not as points
    assert set(PointDescription.__dataclass_fields__) == set(
        MeasurementSpec.__dataclass_fields__
    ) - {"io"}


READING = {
    "device": "sdm630",
    "key": "voltage_l1",
    "value": 230.1,
    "unit": "V",
    "time": "2026-11-30T03:14:50.120+03:00",
}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"time": "2026-11-30T03:14:50"}, "readings[1].time", "time zone"),
        ({"time": "yesterday"}, "readings[1].time", "ISO 8601"),
        ({"time": "2026-11-30"}, "readings[1].time", "date-time"),
        ({"value": [1]}, "readings[1].value", "number, a boolean"),
        ({"key": "Voltage L1"}, "readings[1].key", "must match"),
        ({"device": ""}, "readings[1].device", "must not be empty"),
        ({"unit": 5}, "readings[1].unit", "string"),
        ({"time": None}, "readings[1].time", "ISO 8601"),
    ],
)
def test_reading_refused_names_the_field(change: dict[str, Any], field: str, words: str) -> None:
    page = {"readings": [READING, {**READING, **change}], "next": None}
    with pytest.raises(ApiValidationError) as caught:
        ReadingsPage.from_json(page)
    assert caught.value.field == field
    assert words in caught.value.message


def test_missing_member_is_named() -> None:
    with pytest.raises(ApiValidationError) as caught:
        ReadingsPage.from_json({"readings": [{k: v for k, v in READING.items() if k != "unit"}]})
    assert caught.value.field == "next"
    with pytest.raises(ApiValidationError) as caught:
        Reading.from_json({k: v for k, v in READING.items() if k != "value"})
    assert caught.value.field == "value"


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(ApiValidationError, match="finite"):
        Reading.from_json({**READING, "value": float("nan")})
    with pytest.raises(ApiValidationError, match="finite"):
        Reading(
            device="d", key="k", value=float("inf"), unit=None, time=datetime.now().astimezone()
        )


@pytest.mark.parametrize(
    ("model", "document", "field"),
    [
        (ClaimRequest, {"modem_no": "SP1"}, "auth_code"),
        (ClaimRequest, {"modem_no": "SP 1", "auth_code": "x"}, "modem_no"),
        (ClaimRequest, {"modem_no": "SP1", "auth_code": "x" * 65}, "auth_code"),
        (Claim, {"token": "t", "token_id": "a", "modem_no": "m", "issued": 5}, "issued"),
        (Command, {"id": "c", "type": "reboot"}, "type"),
        (Enrolment, {"terminal_secret": "short", "auth_code": "a"}, "terminal_secret"),
        (
            TerminalDescription,
            {"modem_no": "m", "name": "n", "send_period": 0, "devices": []},
            "send_period",
        ),
        (
            TerminalDescription,
            {"modem_no": "m", "name": "n", "send_period": 900, "devices": [{"key": "d"}]},
            "devices[0].points",
        ),
        (
            DeviceDescription,
            {
                "key": "d",
                "name": "D",
                "protocol": "modbus",
                "points": [{"key": "a", "name": "A", "kind": "vector"}],
            },
            "points[0].kind",
        ),
        (
            DeviceDescription,
            {
                "key": "d",
                "name": "D",
                "protocol": "modbus",
                "points": [{"key": "a", "name": "A"}, {"key": "a", "name": "B"}],
            },
            "points[1]",
        ),
        (ReadingsPage, [], ""),
    ],
)
def test_refusals_name_their_field(model: type[Any], document: Any, field: str) -> None:
    with pytest.raises(ApiValidationError) as caught:
        model.from_json(document)
    assert caught.value.field == field


def test_secrets_stay_out_of_reprs() -> None:
    assert "7K3M" not in repr(ClaimRequest(modem_no="SP1", auth_code="7K3M-9QX2"))
    secret = "tsec_" + "x" * 40
    assert secret not in repr(Enrolment(terminal_secret=secret, auth_code="7K3M-9QX2"))


def test_bridge_values_become_wire_values() -> None:
    zone = timezone(timedelta(hours=3))
    assert wire_value(datetime(2026, 11, 30, 3, 0, 0, 123456, tzinfo=zone)) == (
        "2026-11-30T03:00:00.123+03:00"
    )
    assert wire_value(date(2026, 11, 30)) == "2026-11-30"
    assert wire_value(1.5) == 1.5
    assert wire_value(None) is None
    with pytest.raises(ApiValidationError, match="time zone"):
        wire_value(datetime(2026, 11, 30, 3, 0))


def test_the_model_needs_no_aiohttp() -> None:
    """The API model is usable where aiohttp is not installed (it is the ``api`` extra)."""
    code = (
        "import sys; import hardware_bridge.api as api; api.Batch; "
        "assert 'aiohttp' not in sys.modules; api.SmartPowerClient; "
        "assert 'aiohttp' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-30T03:14:50Z", datetime(2026, 11, 30, 3, 14, 50, tzinfo=UTC)),
        ("2026-11-30t03:14:50z", datetime(2026, 11, 30, 3, 14, 50, tzinfo=UTC)),
        (
            "2026-11-30T03:14:50.1+03:00",
            datetime(2026, 11, 30, 3, 14, 50, 100_000, tzinfo=timezone(timedelta(hours=3))),
        ),
        (
            "2026-11-30T03:14:50.123456789-05:30",
            datetime(2026, 11, 30, 3, 14, 50, 123_456, tzinfo=timezone(-timedelta(hours=5.5))),
        ),
    ],
)
def test_rfc3339_times_are_read(text: str, expected: datetime) -> None:
    """Every RFC 3339 form the document's ``date-time`` admits (OpenAPI tools send them)."""
    assert Reading.from_json({**READING, "time": text}).time == expected
