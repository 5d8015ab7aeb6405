"""Virtual serial lines behave like a cable: bytes cross intact, taps can inject faults."""

from __future__ import annotations

import asyncio
import termios

import serial_asyncio_fast

from hardware_bridge.simulators.virtual_serial import VirtualSerialLink, VirtualSerialPort


async def test_port_carries_bytes_both_ways_and_sees_client_baud() -> None:
    async with VirtualSerialPort() as port:
        reader, writer = await serial_asyncio_fast.open_serial_connection(
            url=port.path, baudrate=300
        )
        writer.write(b"/?!\r\n")
        assert await port.read(timeout=2) == b"/?!\r\n"
        port.write(b"/LUN5<1>LUN669205929\r\n")
        assert await asyncio.wait_for(reader.readline(), 2) == b"/LUN5<1>LUN669205929\r\n"
        assert port.client_settings()[1] != 0
        writer.transport.serial.baudrate = 9600  # type: ignore[attr-defined]
        assert port.client_settings() == (termios.B9600, termios.B9600)
        writer.close()


async def test_port_read_times_out_with_nothing() -> None:
    async with VirtualSerialPort() as port:
        assert await port.read(timeout=0.01) == b""


async def test_link_joins_two_ends_and_tap_rewrites() -> None:
    async with VirtualSerialLink() as link:
        dev_r, dev_w = await serial_asyncio_fast.open_serial_connection(url=link.device_path)
        cli_r, cli_w = await serial_asyncio_fast.open_serial_connection(url=link.client_path)
        cli_w.write(b"ping")
        assert await asyncio.wait_for(dev_r.readexactly(4), 2) == b"ping"
        link.taps["to_client"] = lambda chunk: chunk.upper()
        dev_w.write(b"pong")
        assert await asyncio.wait_for(cli_r.readexactly(4), 2) == b"PONG"
        dropped = asyncio.Event()

        def drop(chunk: bytes) -> bytes:
            dropped.set()
            return b""

        link.taps["to_device"] = drop
        cli_w.write(b"lost")
        await asyncio.wait_for(dropped.wait(), 2)
        link.taps["to_device"] = None
        cli_w.write(b"kept")
        assert await asyncio.wait_for(dev_r.readexactly(4), 2) == b"kept"
        dev_w.close()
        cli_w.close()


async def test_a_cancelled_read_is_cancelled_not_timed_out() -> None:
    """A cancel arriving while a read waits (with or without a timeout) ends the read as
    cancelled: a simulator's serving loop must be stoppable."""
    async with VirtualSerialPort() as port:
        for timeout in (None, 30.0, 0.0):
            reader = asyncio.create_task(port.read(timeout=timeout))
            await asyncio.sleep(0)
            reader.cancel()
            try:
                await reader
            except asyncio.CancelledError:
                pass
            else:
                assert timeout == 0.0, f"read(timeout={timeout}) swallowed the cancel"


async def test_writing_to_a_client_that_never_reads_gives_up(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A full pty buffer is waited on briefly, then the rest is lost (an overrun): the
    simulator never spins forever."""
    monkeypatch.setattr("hardware_bridge.simulators.virtual_serial.FULL_BUFFER_WAIT", 0.2)
    async with VirtualSerialPort() as port:
        loop = asyncio.get_running_loop()
        started = loop.time()
        port.write(b"x" * 1_000_000)  # far more than a pty holds; nobody reads
        assert loop.time() - started < 5
