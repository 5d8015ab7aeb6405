"""The remote terminal as LineHub sees it: readings turned into values of the described kind,
freshness, command bookkeeping; against the fake server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import aiohttp
import pytest
from homeassistant.exceptions import ConfigEntryAuthFailed

from custom_components.smartpower_terminal.remote_terminal import RemoteTerminal
from hardware_bridge import (
    Command,
    CommandStatus,
    DeviceDescription,
    PollGroup,
    Reading,
    SmartPowerClient,
    TerminalDescription,
)

from .fake_smartpower import MODEM_NO, FakeSmartPower, serve

pytestmark = pytest.mark.usefixtures("socket_enabled")

TOKEN = "spt_terminal_test"
NOW = datetime.now(UTC).replace(microsecond=0)  # commands the fake makes carry real times

DESCRIPTION = TerminalDescription(
    modem_no=MODEM_NO,
    name="Kinds",
    send_period=60,
    devices=(
        DeviceDescription.from_json(
            {
                "key": "meter1",
                "name": "Meter",
                "protocol": "iec62056",
                "points": [
                    {"key": "power", "name": "Power", "unit": "kW"},
                    {"key": "meter_id", "name": "Id", "kind": "text"},
                    {"key": "meter_time", "name": "Clock", "kind": "timestamp"},
                    {"key": "billing_date", "name": "Billing", "kind": "date"},
                    {"key": "alarm_door", "name": "Door", "kind": "bool"},
                ],
                "io": [{"key": "relay_1", "name": "Pump", "kind": "relay"}],
            }
        ),
    ),
)


def _reading(key: str, value: object, unit: str | None = None, age: float = 5) -> Reading:
    return Reading(
        device="meter1",
        key=key,
        value=value,  # type: ignore[arg-type]
        unit=unit,
        time=NOW - timedelta(seconds=age),
    )


@pytest.fixture
async def terminal() -> AsyncIterator[tuple[RemoteTerminal, FakeSmartPower, list[datetime]]]:
    clock = [NOW]
    async with (
        serve(FakeSmartPower(tokens={TOKEN}, description=DESCRIPTION)) as fake,
        aiohttp.ClientSession() as session,
    ):
        client = SmartPowerClient(session, fake.url, token=TOKEN)
        yield RemoteTerminal(client, DESCRIPTION, fake.url, lambda: clock[0]), fake, clock


async def test_values_take_the_described_kind_or_none(terminal: tuple) -> None:
    remote, fake, _clock = terminal
    fake.upload(
        _reading("power", 1.5, "kW"),
        _reading("meter_id", "MKL123"),
        _reading("meter_time", (NOW - timedelta(minutes=1)).isoformat()),
        _reading("billing_date", "2026-11-01"),
        _reading("alarm_door", True),
        _reading("relay_1", "on"),  # not a bool: not guessed
        live=False,
    )
    snapshots = await remote.poll(PollGroup.FAST, {})
    values = snapshots["meter1"].values
    assert values["power"] == 1.5
    assert values["meter_id"] == "MKL123"
    assert values["meter_time"] == NOW - timedelta(minutes=1)
    assert values["billing_date"] == date(2026, 11, 1)
    assert values["alarm_door"] is True
    assert values["relay_1"] is None

    fake.upload(
        _reading("power", True, "kW", age=4),  # a bool is no number
        _reading("meter_id", 5, age=4),
        _reading("meter_time", 5, age=4),
        _reading("billing_date", None, age=4),
        _reading("alarm_door", 1, age=4),
        live=False,
    )
    await remote.open()
    values = (await remote.poll(PollGroup.FAST, {}))["meter1"].values
    assert values == dict.fromkeys(
        ("power", "meter_id", "meter_time", "billing_date", "alarm_door", "relay_1")
    )


async def test_an_older_or_foreign_reading_changes_nothing(terminal: tuple) -> None:
    remote, _fake, _clock = terminal
    remote.take([_reading("power", 2.0, "kW", age=5)])
    remote.take([_reading("power", 1.0, "kW", age=50)])
    remote.take([Reading(device="other", key="power", value=9.0, unit="kW", time=NOW)])
    assert remote.snapshot("meter1").values["power"] == 2.0
    assert remote.snapshot("other") is None


async def test_stale_then_fresh_again_is_logged_once_each(
    terminal: tuple, caplog: pytest.LogCaptureFixture
) -> None:
    remote, fake, clock = terminal
    fake.upload(_reading("power", 1.5, "kW"), live=False)
    await remote.poll(PollGroup.FAST, {})
    clock[0] = NOW + timedelta(seconds=200)
    await remote.open()
    assert not (await remote.poll(PollGroup.FAST, {}))["meter1"].available
    remote.snapshot("meter1")
    fake.upload(_reading("power", 1.6, "kW", age=-195), live=False)
    await remote.open()
    assert (await remote.poll(PollGroup.FAST, {}))["meter1"].available
    assert caplog.text.count("Meter: unavailable") == 1
    assert caplog.text.count("Meter: the terminal's data is recent again") == 1


async def test_a_refused_token_while_polling_asks_for_reauth(terminal: tuple) -> None:
    remote, fake, _clock = terminal
    fake.revoke_all()
    with pytest.raises(ConfigEntryAuthFailed):
        await remote.poll(PollGroup.FAST, {})


async def test_commands_of_others_and_unknown_statuses_are_left_alone(terminal: tuple) -> None:
    remote, fake, _clock = terminal
    fake.upload(_reading("relay_1", False), live=False)
    await remote.poll(PollGroup.IO, {})
    assert await remote.write("meter1", "relay_1", True) is False
    assert remote.command_state("meter1", "relay_1") == "pending"
    (mine,) = fake.commands.values()
    other = Command.from_json({**mine.to_json(), "id": "cmd_other", "status": "failed"})
    remote.take_command(other)  # another client's command
    assert remote.command_state("meter1", "relay_1") == "pending"
    assert remote.take_failures() == []

    del fake.commands[mine.id]  # the server lost it: no status, still pending
    await remote.open()
    await remote.poll(PollGroup.IO, {})
    assert remote.command_state("meter1", "relay_1") == "pending"

    fake.commands[mine.id] = mine
    fake.settle(mine.id, CommandStatus.SUCCEEDED, at=NOW, confirmed_state=True)
    await remote.open()
    await remote.poll(PollGroup.IO, {})
    assert remote.command_state("meter1", "relay_1") is None
    assert remote.take_done() == [("meter1", "relay_1")]
    assert remote.snapshot("meter1").values["relay_1"] is True
    await remote.open()
    await remote.poll(PollGroup.IO, {})  # a succeeded command is not asked for again
    assert remote.take_done() == []


async def test_a_value_the_description_lacks_is_flagged_once(terminal: tuple) -> None:
    remote, _fake, _clock = terminal
    remote.take([_reading("new_value", 1.0)])
    assert remote.description_outdated
    remote.description_outdated = False
    remote.take([_reading("new_value", 2.0, age=1)])
    assert not remote.description_outdated  # already asked about
    assert "new_value" not in remote.snapshot("meter1").values
