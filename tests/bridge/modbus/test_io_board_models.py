"""The simulated boards frame by frame (sans-I/O): each quirk against a documented frame."""

from __future__ import annotations

from hardware_bridge.simulators.modbus_frames import with_crc
from hardware_bridge.simulators.modbus_io_boards import (
    MODE_EDGE,
    MODE_TOGGLE,
    BestepIoBoard,
    EletechsupRelayBoard,
    WaveshareRelayBoard,
)


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_waveshare_echoes_writes_and_reads_coils_lsb_first() -> None:
    board = WaveshareRelayBoard(1)
    assert board.handle(_hex("01 05 00 00 FF 00 8C 3A")) == _hex("01 05 00 00 FF 00 8C 3A")
    assert board.handle(_hex("01 05 00 00 55 00 F2 9A")) is not None  # toggle: off again
    assert board.relays[0] is False
    board.handle(with_crc(_hex("01 05 00 06 FF 00")))
    board.handle(with_crc(_hex("01 05 00 00 FF 00")))
    assert board.handle(_hex("01 01 00 00 00 08 3D CC")) == _hex("01 01 01 41 91 B8")
    assert board.handle(_hex("01 05 00 FF 00 00 FD FA")) is not None  # all off
    assert not any(board.relays)
    # no inputs on the plain relay board: FC02 is an illegal function
    assert board.handle(_hex("01 02 00 00 00 08 79 CC")) == with_crc(_hex("01 82 01"))


def test_waveshare_d_toggle_and_edge_modes_follow_the_inputs() -> None:
    board = WaveshareRelayBoard(1, inputs=True)
    board.modes[0], board.modes[1] = MODE_TOGGLE, MODE_EDGE
    board.set_input(1, True)
    board.set_input(1, False)  # toggle mode: only the rising edge counts
    board.set_input(2, True)
    board.set_input(2, False)  # edge mode: both edges count
    assert board.relays[:2] == [True, False]
    # a mode the board does not have is refused
    assert board.handle(with_crc(_hex("01 06 10 00 00 04"))) == with_crc(_hex("01 86 03"))


def test_eletechsup_is_silent_on_anything_it_does_not_take() -> None:
    board = EletechsupRelayBoard(1, channels=8)
    assert board.handle(_hex("01 06 00 01 01 00 D9 9A")) == _hex("01 06 00 01 01 00 D9 9A")
    assert board.handle(_hex("01 03 00 01 00 02 95 CB")) == _hex("01 03 04 00 01 00 00 AB F3")
    assert board.handle(with_crc(_hex("01 06 00 01 09 00"))) is None  # unknown command
    assert board.handle(with_crc(_hex("01 06 00 09 01 00"))) is None  # no channel 9
    assert board.handle(with_crc(_hex("01 03 00 00 00 01"))) is None  # register 0 unreadable
    assert board.handle(with_crc(_hex("01 05 00 00 FF 00"))) is None  # no coils at all
    assert board.relays == [True] + [False] * 7


def test_bestep_answers_eight_inputs_only_and_echoes_fc10_whole() -> None:
    board = BestepIoBoard(255)
    board.set_input(2, True)
    assert board.handle(with_crc(_hex("FF 02 00 00 00 08"))) == with_crc(_hex("FF 02 01 02"))
    assert board.handle(with_crc(_hex("FF 02 00 00 00 02"))) == with_crc(_hex("FF 82 03"))
    request = with_crc(_hex("FF 10 00 00 00 01 02 00 05"))
    assert board.handle(request) == request  # not the standard 8-byte FC10 answer
    assert board.device_id == 5
