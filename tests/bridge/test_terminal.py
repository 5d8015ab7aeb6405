"""The line terminal: what Home Assistant and the daemon see of a serial line."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import pytest

from hardware_bridge.modbus import ProfileCatalogue, load_catalogue, plan_reads
from hardware_bridge.models import LineProtocol, PollGroup
from hardware_bridge.serial_line import SerialSettings
from hardware_bridge.simulators.iec_meter import MeterSimulator, SimulatedMeter
from hardware_bridge.simulators.modbus_line import Fault, ModbusLineSimulator, SimulatedDevice
from hardware_bridge.terminal import (
    LineConfig,
    LineTerminal,
    LineUnavailableError,
    MeterConfig,
    ModbusDeviceConfig,
    manufacturer_name,
    meter_specs,
    profile_specs,
    scan_modbus_line,
)


@pytest.fixture(scope="module")
def catalogue() -> ProfileCatalogue:
    return load_catalogue()


def _modbus_line(path: str, *devices: tuple[int, str]) -> LineConfig:
    return LineConfig(
        protocol=LineProtocol.MODBUS,
        serial=SerialSettings(port=path),
        devices=tuple(
            ModbusDeviceConfig(key=f"dev{i}", device_id=i, profile_id=p) for i, p in devices
        ),
        timeout=0.05,
        retries=0,
    )


async def test_modbus_values_match_the_devices_and_a_dead_one_only_hides_itself(
    catalogue: ProfileCatalogue, caplog: pytest.LogCaptureFixture
) -> None:
    sims = [
        SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630")),
        SimulatedDevice(device_id=2, profile=catalogue.get("kael_varkombi")),
    ]
    async with ModbusLineSimulator(sims) as sim:
        config = _modbus_line(sim.path, (1, "eastron_sdm630"), (2, "kael_varkombi"))
        async with LineTerminal(config, catalogue) as terminal:
            snaps = await terminal.poll()
            assert snaps["dev1"].available
            assert snaps["dev1"].info.manufacturer == "Eastron"
            assert snaps["dev1"].values["voltage_l1"] == pytest.approx(sim.values(1)["voltage_l1"])
            # every value of the profile, in the planner's minimum number of requests
            assert snaps["dev1"].requests == len(plan_reads(catalogue.get("eastron_sdm630"), None))

            sim.set_fault(2, Fault.SILENT)
            with caplog.at_level(logging.WARNING):
                snaps = await terminal.poll()
                await terminal.poll()
            assert not snaps["dev2"].available
            assert all(v is None for v in snaps["dev2"].values.values())
            assert snaps["dev1"].available
            lost = [r for r in caplog.records if "dev2 is not answering" in r.message]
            assert len(lost) == 1  # logged once, not once per poll
            assert terminal.snapshot("dev2") is not None
            assert terminal.snapshot("dev2").consecutive_failures == 2  # type: ignore[union-attr]


async def test_poll_group_and_wanted_keys_limit_what_is_read(catalogue: ProfileCatalogue) -> None:
    sims = [SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630"))]
    async with ModbusLineSimulator(sims) as sim:
        config = _modbus_line(sim.path, (1, "eastron_sdm630"))
        async with LineTerminal(config, catalogue) as terminal:
            snaps = await terminal.poll(wanted={"dev1": {"voltage_l1"}})
            assert snaps["dev1"].requests == 1
            assert set(snaps["dev1"].values) == {"voltage_l1"}
            snaps = await terminal.poll(group=PollGroup.SLOW)
            values = snaps["dev1"].values
            assert values["energy_import_total"] is not None
            assert values["voltage_l1"] is not None  # kept from the earlier fast poll
            assert await terminal.poll(wanted={}) == {}


def test_specs_carry_home_assistant_hints(catalogue: ProfileCatalogue) -> None:
    specs = {s.key: s for s in profile_specs(catalogue.get("generic_compensation_relay"))}
    stage = next(s for s in specs.values() if s.kind == "bool")
    assert stage.unit is None
    energy = {s.key: s for s in meter_specs()}["energy_import_total"]
    assert (energy.unit, energy.device_class, energy.state_class) == (
        "kWh",
        "energy",
        "total_increasing",
    )
    assert manufacturer_name("MSY") == "Makel"
    assert manufacturer_name("XYZ") == "XYZ"


async def test_meters_on_one_line_are_read_with_their_identity() -> None:
    meters = [SimulatedMeter("makel_c520_3p"), SimulatedMeter("luna_1p")]
    async with MeterSimulator(meters, reaction_time=0.01) as sim:
        config = LineConfig(
            protocol=LineProtocol.IEC62056,
            serial=SerialSettings(port=sim.path, baudrate=300),
            meters=tuple(MeterConfig(key=m.address, address=m.address) for m in meters),
        )
        async with LineTerminal(config) as terminal:
            assert terminal.specs(meters[0].address) == ()  # unknown before the first readout
            snaps = await terminal.poll()
            makel = snaps[meters[0].address]
            assert makel.available
            assert makel.info.manufacturer == "Makel"
            assert makel.info.serial_number == "80099921"
            assert makel.values["energy_import_total"] == pytest.approx(
                meters[0].counter("1.8.0"), abs=0.01
            )
            keys = {s.key for s in terminal.specs(meters[0].address)}
            assert {"energy_import_total", "reactive_inductive_total", "voltage_l1"} <= keys
            assert snaps[meters[1].address].info.manufacturer == "Luna Elektrik"
            # worked out from the readout: the simulated meter's clock runs on the host's time
            assert abs(makel.values["meter_time_drift"]) <= 2  # type: ignore[arg-type]
            # the stamp the meter sent (its own day of this billing month, or none yet)
            sent = next(d for d in meters[0].datasets() if d.address == "1.6.0").values[1].value
            expected = (
                None
                if sent == "00-00-00,00:00"
                else datetime.strptime(sent, "%y-%m-%d,%H:%M").replace(
                    tzinfo=datetime.now().astimezone().tzinfo
                )
            )
            assert makel.values["max_demand_time"] == expected
            assert {"meter_time_drift", "max_demand_time"} <= keys


async def test_a_silent_meter_is_unavailable_not_zero() -> None:
    meter = SimulatedMeter("luna_1p")
    async with MeterSimulator([meter], reaction_time=0.01) as sim:
        config = LineConfig(
            protocol=LineProtocol.IEC62056,
            serial=SerialSettings(port=sim.path, baudrate=300),
            meters=(MeterConfig(key="m", address=meter.address),),
            meter_reaction_timeout=0.05,
        )
        async with LineTerminal(config) as terminal:
            first = (await terminal.poll())["m"]
            assert first.available
            sim.faults.silent = True
            snap = (await terminal.poll())["m"]
        # what was read before turns unavailable: it neither stays stale nor becomes 0
        assert not snap.available
        assert set(snap.values) == set(first.values)
        assert all(v is None for v in snap.values.values())
        assert snap.last_error
        assert snap.last_success == first.last_success


async def test_missing_port_is_reported_not_raised_later() -> None:
    config = LineConfig(
        protocol=LineProtocol.IEC62056,
        serial=SerialSettings(port="/dev/does-not-exist"),
        meters=(MeterConfig(key="m"),),
    )
    with pytest.raises(LineUnavailableError, match="does not exist"):
        await LineTerminal(config).open()
    modbus = _modbus_line("/dev/does-not-exist", (1, "eastron_sdm630"))
    with pytest.raises(LineUnavailableError):
        await LineTerminal(modbus).open()


def test_config_rejects_duplicate_and_out_of_range_addresses() -> None:
    with pytest.raises(ValueError, match="share an address"):
        _modbus_line("/dev/null", (5, "eastron_sdm630"), (5, "eastron_sdm120"))
    with pytest.raises(ValueError, match=r"1\.\.247"):
        ModbusDeviceConfig(key="x", device_id=248, profile_id="eastron_sdm630")


async def test_scan_finds_devices_and_suggests_their_profiles(catalogue: ProfileCatalogue) -> None:
    sims = [
        SimulatedDevice(device_id=3, profile=catalogue.get("eastron_sdm630")),
        SimulatedDevice(device_id=9, profile=catalogue.get("kael_varkombi")),
    ]
    async with ModbusLineSimulator(sims) as sim:
        hits = await scan_modbus_line(
            SerialSettings(port=sim.path), catalogue, first=1, last=12, timeout=0.03
        )
    assert [h.device_id for h in hits] == [3, 9]
    assert hits[1].suggested_profile_id == "kael_varkombi"
    with pytest.raises(LineUnavailableError):
        await scan_modbus_line(SerialSettings(port="/dev/does-not-exist"), catalogue)


async def test_a_vanished_port_is_a_line_error_and_reopening_recovers(
    catalogue: ProfileCatalogue, tmp_path: Path
) -> None:
    link = tmp_path / "ttyUSB0"
    sims = [SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630"))]
    config = _modbus_line(str(link), (1, "eastron_sdm630"))
    terminal = LineTerminal(config, catalogue)
    async with ModbusLineSimulator(sims) as sim:
        link.symlink_to(sim.path)
        await terminal.open()
        assert (await terminal.poll())["dev1"].available
        assert terminal.line_error is None
        # the scan shares the terminal's open port and lock
        assert [h.device_id for h in await terminal.scan(1, 2, timeout=0.03)] == [1]
    link.unlink()
    assert not (await terminal.poll())["dev1"].available
    assert terminal.line_error is not None
    async with ModbusLineSimulator(sims) as sim:
        link.symlink_to(sim.path)
        await terminal.close()
        await terminal.open()
        assert (await terminal.poll())["dev1"].available
        assert terminal.line_error is None
        await terminal.close()
    meter_line = LineConfig(
        protocol=LineProtocol.IEC62056,
        serial=SerialSettings(port=str(link)),
        meters=(MeterConfig(key="m"),),
    )
    link.unlink()
    meters = LineTerminal(meter_line)
    assert not (await meters.poll())["m"].available
    assert meters.line_error is not None
    with pytest.raises(ValueError, match="Modbus"):
        await meters.scan()


async def test_scan_needs_an_open_line(catalogue: ProfileCatalogue) -> None:
    terminal = LineTerminal(_modbus_line("/dev/does-not-exist", (1, "eastron_sdm630")), catalogue)
    with pytest.raises(LineUnavailableError):
        await terminal.scan(1, 1)
