"""t3.5 follows the line's own character length (start + data + parity + stop bits)."""

from __future__ import annotations

import pytest

from hardware_bridge.modbus import ModbusBus, default_inter_frame_delay
from hardware_bridge.serial_line import SerialSettings


@pytest.mark.parametrize(
    ("parity", "stopbits", "bits"),
    [("N", 1, 10), ("E", 1, 11), ("O", 1, 11), ("N", 2, 11), ("E", 2, 12)],
)
async def test_t35_counts_the_bits_of_this_lines_characters(
    parity: str, stopbits: int, bits: int
) -> None:
    line = SerialSettings(port="-", baudrate=9600, parity=parity, stopbits=stopbits)  # type: ignore[arg-type]
    assert default_inter_frame_delay(line) == pytest.approx(3.5 * bits / 9600)
    assert ModbusBus(line).inter_frame_delay == pytest.approx(3.5 * bits / 9600)


def test_t35_is_fixed_above_19200_baud() -> None:
    assert default_inter_frame_delay(SerialSettings(port="-", baudrate=38400)) == 0.00175
