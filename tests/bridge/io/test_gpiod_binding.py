"""The libgpiod adapter against the real ``gpiod`` 2.x binding, without opening a chip.

No GPIO chip exists here (no gpio-sim in this kernel), so ``gpiod.Chip`` is replaced by a
recorder; everything else — ``LineSettings``, the enums, ``EdgeEvent`` — is the binding's own,
so a renamed or re-typed API name fails this test.
"""

from __future__ import annotations

import inspect
from datetime import timedelta
from typing import Any

import pytest

from hardware_bridge.io import Bias, Drive, GpiodChip, GpioError, LineSetup, RawEdge

gpiod = pytest.importorskip("gpiod", minversion="2.1")
from gpiod.line import Bias as GBias  # noqa: E402
from gpiod.line import Clock, Direction, Edge, Value  # noqa: E402
from gpiod.line import Drive as GDrive  # noqa: E402


class RecordingRequest:
    def __init__(self) -> None:
        self.fd = 42
        self.values: dict[int, Any] = {}
        self.released = False

    def get_value(self, line: int) -> Any:
        return self.values.get(line, Value.INACTIVE)

    def set_value(self, line: int, value: Any) -> None:
        assert isinstance(value, Value)
        self.values[line] = value

    def read_edge_events(self, max_events: int | None = None) -> list[Any]:
        rising = gpiod.EdgeEvent.Type.RISING_EDGE.value
        falling = gpiod.EdgeEvent.Type.FALLING_EDGE.value
        return [
            gpiod.EdgeEvent(rising, 1_000_000_123, 17, 1, 1),
            gpiod.EdgeEvent(falling, 2_000_000_456, 17, 2, 2),
        ]

    def release(self) -> None:
        self.released = True


class LineInfo:
    def __init__(self, used: bool, consumer: str) -> None:
        self.used = used
        self.consumer = consumer


class RecordingChip:
    requests: list[dict[str, Any]]
    used: dict[int, str]

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> RecordingChip:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def get_line_info(self, line: int) -> LineInfo:
        return LineInfo(line in self.used, self.used.get(line, ""))

    def request_lines(self, **kwargs: Any) -> RecordingRequest:
        self.requests.append(kwargs)
        return RecordingRequest()


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> type[RecordingChip]:
    RecordingChip.requests = []
    RecordingChip.used = {}
    monkeypatch.setattr(gpiod, "Chip", RecordingChip)
    monkeypatch.setattr(gpiod, "is_gpiochip_device", lambda path: path == "/dev/gpiochip0")
    monkeypatch.setattr("os.path.exists", lambda path: path == "/dev/gpiochip0")
    return RecordingChip


LINES = [
    LineSetup(
        offset=17,
        output=False,
        active_low=True,
        bias=Bias.PULL_UP,
        debounce=timedelta(milliseconds=20),
        edges=True,
    ),
    LineSetup(offset=22, output=True, drive=Drive.OPEN_DRAIN, initial=True),
]


def test_the_calls_match_the_bindings_signatures() -> None:
    assert {"config", "consumer"} <= set(inspect.signature(gpiod.Chip.request_lines).parameters)
    fields = set(inspect.signature(gpiod.LineSettings).parameters)
    assert {
        "direction",
        "edge_detection",
        "bias",
        "drive",
        "active_low",
        "debounce_period",
        "event_clock",
        "output_value",
    } <= fields
    for name in ("get_value", "set_value", "read_edge_events", "release", "fd"):
        assert hasattr(gpiod.LineRequest, name), name
    assert {"path"} <= set(inspect.signature(gpiod.Chip).parameters)
    assert hasattr(gpiod.Chip, "get_line_info")
    assert callable(gpiod.is_gpiochip_device)
    assert {"used", "consumer"} <= set(inspect.signature(gpiod.LineInfo).parameters)


def test_line_settings_are_built_with_the_bindings_types(
    recording: type[RecordingChip],
) -> None:
    lines = GpiodChip("/dev/gpiochip0").request("smartpower", LINES)
    (call,) = recording.requests
    assert call["consumer"] == "smartpower"
    settings = call["config"]
    assert set(settings) == {17, 22}
    assert settings[17] == gpiod.LineSettings(
        direction=Direction.INPUT,
        edge_detection=Edge.BOTH,
        bias=GBias.PULL_UP,
        active_low=True,
        debounce_period=timedelta(milliseconds=20),
        event_clock=Clock.REALTIME,
    )
    assert settings[22] == gpiod.LineSettings(
        direction=Direction.OUTPUT,
        drive=GDrive.OPEN_DRAIN,
        bias=GBias.AS_IS,
        output_value=Value.ACTIVE,
    )
    lines.set(22, True)
    assert lines.get(22) is True
    assert lines.get(17) is False
    assert lines.fd == 42
    assert lines.read_edges() == [
        RawEdge(17, True, 1_000_000_123),
        RawEdge(17, False, 2_000_000_456),
    ]


def test_a_line_held_by_another_program_is_named(recording: type[RecordingChip]) -> None:
    recording.used = {22: "gpio-leds"}
    with pytest.raises(GpioError, match="line 22 is already used by 'gpio-leds'"):
        GpiodChip("/dev/gpiochip0").request("smartpower", LINES)
    assert recording.requests == []


def test_a_path_that_is_no_chip_is_named(
    recording: type[RecordingChip], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(GpioError, match="/dev/gpiochip9: no such GPIO chip"):
        GpiodChip("/dev/gpiochip9").request("smartpower", LINES)
    monkeypatch.setattr("os.path.exists", lambda path: True)
    with pytest.raises(GpioError, match="/dev/ttyUSB0: not a GPIO character device"):
        GpiodChip("/dev/ttyUSB0").request("smartpower", LINES)
