"""``demo``: simulated meters and Modbus devices read live by the terminal, printed as a table."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from hardware_bridge.cli._args import integer, seconds
from hardware_bridge.modbus import load_catalogue
from hardware_bridge.models import DeviceSnapshot, LineProtocol, MeasurementSpec
from hardware_bridge.serial_line import SerialSettings
from hardware_bridge.simulators.iec_meter import MeterSimulator, SimulatedMeter
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice
from hardware_bridge.terminal import LineConfig, LineTerminal, MeterConfig, ModbusDeviceConfig

__all__ = ["register", "run_demo"]

_SHOWN = (
    "energy_import_total",
    "reactive_inductive_total",
    "reactive_capacitive_total",
    "voltage_l1",
    "current_l1",
    "power_active_total",
    "power_factor_total",
    "cos_phi_total",
    "frequency",
    "active_stages",
)


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="simulated panel: meters and Modbus devices on virtual lines, read live",
        description="Starts two simulated meters and four Modbus devices on virtual serial "
        "lines, reads them with the terminal and prints live values.",
    )
    demo.add_argument(
        "--interval", type=seconds(3600), default=5.0, help="seconds between polls (default 5)"
    )
    demo.add_argument(
        "--cycles", type=integer(0, 1_000_000), default=0, help="stop after N polls (0: never)"
    )
    demo.set_defaults(handler=run_demo)


def _format(value: object, spec: MeasurementSpec | None) -> str:
    if value is None:
        return "unavailable"
    unit = f" {spec.unit}" if spec is not None and spec.unit else ""
    if isinstance(value, float):
        return f"{value:.3f}{unit}"
    return f"{value}{unit}"


def _print(terminal: LineTerminal, snapshots: dict[str, DeviceSnapshot]) -> None:
    for key, snap in snapshots.items():
        info = snap.info
        title = " ".join(p for p in (info.manufacturer, info.model) if p)
        state = "ok" if snap.available else f"UNAVAILABLE ({snap.last_error})"
        print(f"  {key:<12} {title:<40} {state}")
        specs = {s.key: s for s in terminal.specs(key)}
        for name in _SHOWN:
            if name in snap.values:
                print(f"      {name:<28} {_format(snap.values[name], specs.get(name))}")


async def _run(interval: float, cycles: int) -> None:
    catalogue = load_catalogue()
    devices: Sequence[tuple[int, str]] = (
        (1, "eastron_sdm630"),
        (2, "entes_mpr3x"),
        (3, "kael_varkombi"),
        (4, "generic_compensation_relay"),
    )
    meters = [
        SimulatedMeter("makel_c520_3p", time_scale=600),
        SimulatedMeter("luna_1p", time_scale=600),
    ]
    sim_devices = [SimulatedDevice(device_id=i, profile=catalogue.get(p)) for i, p in devices]
    async with (
        MeterSimulator(meters) as meter_line,
        ModbusLineSimulator(sim_devices, update_interval=1.0) as modbus_line,
    ):
        iec = LineConfig(
            protocol=LineProtocol.IEC62056,
            serial=SerialSettings(port=meter_line.path, baudrate=300),
            meters=tuple(MeterConfig(key=m.address, address=m.address) for m in meters),
        )
        modbus = LineConfig(
            protocol=LineProtocol.MODBUS,
            serial=SerialSettings(port=modbus_line.path),
            devices=tuple(
                ModbusDeviceConfig(key=f"{p}@{i}", device_id=i, profile_id=p) for i, p in devices
            ),
        )
        print(f"meter line  {meter_line.path}\nModbus line {modbus_line.path}", flush=True)
        async with LineTerminal(iec) as meters_t, LineTerminal(modbus, catalogue) as modbus_t:
            cycle = 0
            while cycles == 0 or cycle < cycles:
                cycle += 1
                meter_snaps, modbus_snaps = await asyncio.gather(meters_t.poll(), modbus_t.poll())
                print(f"--- poll {cycle}")
                _print(meters_t, meter_snaps)
                _print(modbus_t, modbus_snaps)
                print(flush=True)
                if cycles == 0 or cycle < cycles:
                    await asyncio.sleep(interval)


def run_demo(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args.interval, args.cycles))
    return 0
