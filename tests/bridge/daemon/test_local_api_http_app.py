"""The daemon's client side served by the API's own HTTP app (``build_app``), as ``run``
serves it: Home Assistant's client claims the modem, reads it, switches a relay and follows
the event stream over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import pytest

from hardware_bridge.api import (
    CommandRequest,
    InvalidAuthCode,
    SmartPowerClient,
    Unauthorized,
    decode_event,
)
from hardware_bridge.daemon import Runner, load_config_text
from hardware_bridge.daemon.local_api import make_local_api
from hardware_bridge.modbus import ProfileCatalogue, load_catalogue
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice
from hardware_bridge.uplink import Record, TerminalIdentity

http_app = pytest.importorskip("hardware_bridge.api.http_app")

pytestmark = pytest.mark.usefixtures("socket_enabled")  # loopback HTTP to the daemon


class CountingRunner(Runner):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.more = asyncio.Event()

    async def commit(self, records: Sequence[Record]) -> None:
        await super().commit(records)
        self.more.set()


async def test_home_assistant_s_client_pairs_reads_switches_and_follows_events(
    tmp_path: Path,
) -> None:
    catalogue: ProfileCatalogue = load_catalogue()
    devices = [
        SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630")),
        SimulatedDevice(device_id=2, profile=catalogue.get("bestep_2ch_io")),
    ]
    async with ModbusLineSimulator(devices) as sim:
        config = load_config_text(
            f"""\
state_dir: {tmp_path}
send_period: 15m
lines:
  - name: rs485
    port: {sim.path}
    protocol: modbus
    poll_interval: 1s
    io_interval: 200ms
    timeout: 300ms
    devices:
      - {{name: analyser, address: 1, profile: eastron_sdm630}}
      - {{name: io_board, address: 2, profile: bestep_2ch_io}}
""",
            catalogue=catalogue,
        )
        opened = await asyncio.to_thread(TerminalIdentity.open, tmp_path)
        code = opened.new_auth_code
        assert code is not None
        api = make_local_api(http_app.build_app, "127.0.0.1", 0)
        runner = CountingRunner(config, opened.identity, local_api=api, catalogue=catalogue)
        task = asyncio.create_task(runner.run())
        try:
            async with asyncio.timeout(30):
                while runner.api_url is None or runner.committed < 20:
                    runner.more.clear()
                    await runner.more.wait()
            modem_no = opened.identity.modem_no
            async with aiohttp.ClientSession() as session:
                client = SmartPowerClient(session, runner.api_url)
                with pytest.raises(InvalidAuthCode):
                    await client.claim(modem_no, "WRONG22222")
                await client.claim(modem_no, code)
                description = await client.description(modem_no)
                assert {d.key for d in description.devices} == {"analyser", "io_board"}
                latest = await client.latest(modem_no)
                assert ("analyser", "voltage_l1") in {(r.device, r.key) for r in latest.readings}

                events = client.events(modem_no)
                async with asyncio.timeout(30):
                    first = decode_event(await anext(events))
                assert first is not None
                command = await client.send_command(
                    modem_no, CommandRequest(device="io_board", key="relay_1", state=True)
                )
                assert command.status.value == "succeeded"
                assert command.confirmed_state is True
                assert sim.board(2).relays[0] is True
                await events.aclose()

                await client.revoke_token()
                with pytest.raises(Unauthorized):
                    await client.latest(modem_no)
        finally:
            runner.stop()
            await task
