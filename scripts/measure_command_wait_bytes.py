"""The bytes an idle terminal's wait for relay commands costs: the daemon's own uploader
(:meth:`~hardware_bridge.daemon.uplink_client.ApiUplink.follow_commands`, its HTTP client)
against the counting fake server, through a TCP proxy that counts every byte each way.

The fake server answers each wait empty after ``wait × --scale`` seconds, so an hour of
``command_wait: 5m`` (twelve waits) is measured in seconds with the very requests a terminal
sends (``?wait=300``). TLS and TCP/IP are not on this loopback link; see docs/uplink-bytes.md.

    PYTHONPATH=. python scripts/measure_command_wait_bytes.py --wait 300 --rounds 12
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from hardware_bridge.daemon.uplink_client import ApiUplink, write_pending_auth_code
from hardware_bridge.uplink import TerminalIdentity

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "bridge" / "daemon"))
from fake_server import FakeServer


class CountingProxy:
    """Forwards loopback TCP to ``port``, counting the bytes each way and the connections."""

    def __init__(self, port: int) -> None:
        self._port = port
        self.up = self.down = self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._port)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, up: bool) -> None:
            try:
                while chunk := await source.read(65536):
                    if up:
                        self.up += len(chunk)
                    else:
                        self.down += len(chunk)
                    sink.write(chunk)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))

    def reset(self) -> None:
        self.up = self.down = self.connections = 0


async def measure(wait: int, rounds: int, scale: float) -> None:
    server = await FakeServer(wait_scale=scale).start()
    assert server.server is not None
    proxy = CountingProxy(int(server.server.port or 0))
    port = await proxy.start()
    with tempfile.TemporaryDirectory() as directory:
        state = Path(directory)
        opened = TerminalIdentity.open(state)
        assert opened.new_auth_code is not None
        write_pending_auth_code(state, opened.new_auth_code)
        uplink = ApiUplink(opened.identity, state, server=f"http://127.0.0.1:{port}")
        follow = asyncio.create_task(uplink.follow_commands(wait))
        try:
            async with asyncio.timeout(60 + rounds * wait * scale * 2):
                await server.until(lambda: server.waits >= 1)  # enrolled, one wait answered
                proxy.reset()
                first = server.waits
                await server.until(lambda: server.waits >= first + rounds, timeout=3600)
            up, down, connections = proxy.up, proxy.down, proxy.connections
        finally:
            follow.cancel()
            await asyncio.gather(follow, return_exceptions=True)
            await uplink.close()
    await server.close()
    per_hour = 3600 / wait
    print(f"wait {wait} s, {rounds} empty answers measured, {connections} new connections")
    print(f"per wait: {up / rounds:.0f} bytes up, {down / rounds:.0f} bytes down (HTTP)")
    print(
        f"per idle hour ({per_hour:g} waits): {up / rounds * per_hour:.0f} up + "
        f"{down / rounds * per_hour:.0f} down = {(up + down) / rounds * per_hour:.0f} bytes; "
        f"{(up + down) / rounds * per_hour * 24 * 30 / 1e6:.2f} MB per 30-day month"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wait", type=int, default=300, help="command_wait in seconds")
    parser.add_argument("--rounds", type=int, default=12, help="empty answers to measure")
    parser.add_argument("--scale", type=float, default=0.01, help="share of each wait waited")
    args = parser.parse_args()
    asyncio.run(measure(args.wait, args.rounds, args.scale))


if __name__ == "__main__":
    main()
