"""Meters that misbehave on the line: cut readouts, endless blocks, noise before the ident.

Each test drives the real client over a pty against the simulated meter with one fault.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
from pathlib import Path
from types import ModuleType

import pytest
from conftest import fast_settings

from hardware_bridge.iec62056 import (
    NEED_DATA,
    Framer,
    IncompleteReadoutError,
    Line,
    MeterClient,
    NoResponseError,
    RemoteProtocolError,
    SessionTimeoutError,
    find_identification,
    parse_readout,
    readout_time_limit,
)
from hardware_bridge.simulators.iec_meter import Faults, MeterSimulator, SimulatedMeter

MAKEL_IDENT = b"/MSY5<1>C520.KMY.2251\r\n"
GUARD = 30.0
"""Seconds after which a read that should have ended by itself fails the test (not a hang)."""


def _sim(faults: Faults, meter: SimulatedMeter | None = None) -> MeterSimulator:
    return MeterSimulator([meter or SimulatedMeter()], reaction_time=0.01, faults=faults)


# -- a readout cut short -------------------------------------------------------------------


async def test_a_readout_cut_after_five_data_sets_is_incomplete() -> None:
    async with _sim(Faults(cut_after=5)) as sim:
        reading = await MeterClient(fast_settings(sim.path)).read()
    assert reading.bcc_ok is True  # the BCC is valid over what arrived …
    assert len(reading.datasets) == 5
    assert not reading.complete  # … but the '!' that ends the data never came
    assert reading.incomplete_reason is not None
    assert "5 data sets" in reading.incomplete_reason
    assert "'!'" in reading.incomplete_reason
    assert reading.to_dict()["complete"] is False
    with pytest.raises(IncompleteReadoutError, match="5 data sets"):
        reading.require_complete()


async def test_a_full_readout_is_complete() -> None:
    async with _sim(Faults()) as sim:
        reading = await MeterClient(fast_settings(sim.path)).read()
    assert reading.complete
    assert reading.incomplete_reason is None
    assert reading.to_dict()["complete"] is True
    assert reading.require_complete() is reading


def _run_cli(cli: ModuleType, argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = args.handler(args)
    return code, out.getvalue(), err.getvalue()


async def test_read_meter_says_a_cut_readout_is_incomplete_and_exits_1(
    iec_cli: ModuleType,
) -> None:
    async with _sim(Faults(cut_after=5)) as sim:
        argv = ["read-meter", "--port", sim.path, "--json", "--switch-delay", "0.02"]
        code, out, err = await asyncio.to_thread(_run_cli, iec_cli, argv)
    assert code == 1
    data = json.loads(out)
    assert data["complete"] is False
    assert "incomplete" in data["incomplete_reason"]
    assert len(data["datasets"]) == 5
    assert err.count("\n") == 1
    assert "incomplete" in err
    assert sim.path in err


def test_a_capture_without_its_end_is_incomplete() -> None:
    body = b"0.0.0(80099921)\r\n1.8.0(000070.677*kWh)\r\n"
    whole = parse_readout(b"\x02" + body + b"!\r\n\x03" + b"\x05")
    assert whole.complete
    no_bang = parse_readout(b"\x02" + body + b"\x03\x05")
    assert not no_bang.complete
    assert no_bang.missing_end == "'!'"
    no_etx = parse_readout(b"\x02" + body)
    assert not no_etx.complete
    assert no_etx.missing_end is not None
    assert "ETX" in no_etx.missing_end
    assert no_etx.incomplete_reason is not None
    assert "2 data sets" in no_etx.incomplete_reason


# -- a block that never ends ----------------------------------------------------------------


async def _stops_streaming(sim: MeterSimulator) -> None:
    """The break the client sent on giving up reaches the meter, which stops sending."""
    async with asyncio.timeout(2.0):
        while sim.streaming:  # noqa: ASYNC110 - the simulator has no event for it
            await asyncio.sleep(0.01)


async def test_a_meter_streaming_without_etx_is_cut_off_in_bounded_time() -> None:
    async with _sim(Faults(stream=True)) as sim:
        settings = fast_settings(sim.path, max_readout_size=1024)
        async with asyncio.timeout(GUARD):
            with pytest.raises(RemoteProtocolError):
                await MeterClient(settings).read()
        assert sim.streamed_bytes > 0
        # the client ended the session with a break, which stops the meter streaming
        await _stops_streaming(sim)
        assert sim.option_selects == ["050"]  # no second, slower attempt


async def test_a_meter_dribbling_without_etx_hits_the_session_time_limit() -> None:
    faults = Faults(stream=True, stream_pause=0.2)  # never silent long enough to time out
    async with _sim(faults) as sim:
        # a generous gap between characters, so only the session's own limit can end it
        settings = fast_settings(sim.path, max_readout_size=1024, inter_char_timeout=2.0)
        limit = readout_time_limit(1024, 9600, reaction=0.4, inter_char=2.0)
        async with asyncio.timeout(GUARD):
            with pytest.raises(SessionTimeoutError, match="did not end within"):
                await MeterClient(settings).read()
        assert 0 < sim.streamed_bytes < 1024  # the size bound was not what stopped it
        assert limit < GUARD
        await _stops_streaming(sim)


def test_the_time_limit_follows_the_baud_rate() -> None:
    fast = readout_time_limit(16384, 9600, reaction=1.5, inter_char=2.2)
    slow = readout_time_limit(16384, 300, reaction=1.5, inter_char=2.2)
    assert 16384 * 10 / 9600 < fast < 30  # the transfer time plus a margin
    assert slow == pytest.approx((fast - 3.7) * 32 + 3.7)


# -- noise before the identification -------------------------------------------------------


def test_a_noise_byte_that_reads_as_stx_does_not_swallow_the_ident() -> None:
    # 0x82 with its parity bit stripped is STX: as a block start it would eat the ident line
    framer = Framer(strip_parity=True, lines_only=True)
    framer.receive_data(b"\x82" + MAKEL_IDENT)
    event = framer.next_event()
    assert isinstance(event, Line)
    ident = find_identification(event.data)
    assert ident is not None
    assert (ident.manufacturer, ident.ident) == ("MSY", "C520.KMY.2251")
    assert framer.next_event() is NEED_DATA


@pytest.mark.parametrize(
    "line",
    [
        b"//MSY5<1>C520.KMY.2251",
        b"\x02/MSY5<1>C520.KMY.2251",
        b"\x00\x00\x7f/MSY5<1>C520.KMY.2251\r",
        b"/?!\r/MSY5<1>C520.KMY.2251",
    ],
)
def test_the_identification_is_found_behind_line_noise(line: bytes) -> None:
    ident = find_identification(line)
    assert ident is not None
    assert ident.ident == "C520.KMY.2251"


@pytest.mark.parametrize("line", [b"/?!", b"garbage", b"/\xffSY5<1>C520", b"", b"/" * 500])
def test_no_identification_in_noise(line: bytes) -> None:
    assert find_identification(line) is None


def test_a_capture_with_a_slash_glued_to_the_ident_parses() -> None:
    readout = parse_readout(b"//MSY5<1>C520.KMY.2251\r\n0.0.0(80099921)\r\n!\r\n")
    assert readout.identification is not None
    assert readout.identification.manufacturer == "MSY"


@pytest.mark.parametrize("noise", [b"\x82", b"/", b"\x00\xff"])
async def test_noise_before_the_ident_does_not_fail_the_read(noise: bytes) -> None:
    async with _sim(Faults(noise_before_ident=noise)) as sim:
        reading = await MeterClient(fast_settings(sim.path)).read()
    assert reading.complete
    assert reading.identification.ident == "C520.KMY.2251"
    assert sim.requests == [""]


async def test_a_garbled_ident_is_answered_with_one_more_sign_on() -> None:
    async with _sim(Faults(garbled_idents=1)) as sim:
        reading = await MeterClient(fast_settings(sim.path)).read()
    assert reading.complete
    assert sim.requests == ["", ""]


async def test_two_garbled_idents_fail_the_read_with_the_reason() -> None:
    async with _sim(Faults(garbled_idents=2)) as sim:
        with pytest.raises(NoResponseError, match="garbled identification"):
            await MeterClient(fast_settings(sim.path)).read()
    assert sim.requests == ["", ""]


async def test_a_silent_meter_is_not_asked_twice() -> None:
    async with _sim(Faults(silent=True)) as sim:
        with pytest.raises(NoResponseError):
            await MeterClient(fast_settings(sim.path, reaction_timeout=0.1)).read()
    assert sim.requests == [""]


def test_iec_parse_marks_a_cut_capture_incomplete(iec_cli: ModuleType, tmp_path: Path) -> None:
    capture = tmp_path / "cut.txt"
    capture.write_bytes(
        b"/MSY5<1>C520.KMY.2251\r\n\x020.0.0(80099921)\r\n1.8.0(000070.677*kWh)\r\n"
    )
    code, out, _ = _run_cli(iec_cli, ["iec-parse", str(capture), "--json"])
    assert code == 0  # a capture is shown as it is, with what it lacks
    data = json.loads(out)
    assert data["complete"] is False
    assert "ETX" in data["incomplete_reason"]
    code, out, _ = _run_cli(iec_cli, ["iec-parse", str(capture)])
    assert "end:   MISSING" in out


async def test_read_meter_gives_up_on_an_endless_readout(iec_cli: ModuleType) -> None:
    async with _sim(Faults(stream=True)) as sim:
        argv = ["read-meter", "--port", sim.path, "--switch-delay", "0.02", "--timeout", "0.4"]
        argv += ["--max-readout-size", "1024"]
        async with asyncio.timeout(GUARD):
            code, out, err = await asyncio.to_thread(_run_cli, iec_cli, argv)
    assert code == 1
    assert out == ""
    assert "1024 bytes" in err
    assert err.count("\n") == 1
