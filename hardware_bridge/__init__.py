"""SmartPower hardware bridge: reads meters and Modbus devices over serial lines.

The names exported here are the bridge's public surface for its users (the Home Assistant
integration, the daemon); everything else is internal and may change.

They are imported on first use: ``smartpower-bridge --help`` and the sub-commands that need
no terminal (parsing a capture, say) start without loading pymodbus.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hardware_bridge.cellular import (
        AccessTechnology,
        CellularError,
        Modem,
        ModemSettings,
        ModemStatus,
        Registration,
        SimState,
        SmsError,
    )
    from hardware_bridge.io import (
        Bias,
        Clock,
        FailSafeAction,
        FailSafeEvent,
        FailSafeSupervisor,
        GpioBackend,
        GpioChip,
        GpioConfig,
        GpioConfigError,
        GpiodChip,
        GpiodMissingError,
        GpioError,
        GpioInputConfig,
        GpioRelayConfig,
        InputDebouncer,
        InputEvent,
        MainsMonitor,
        MainsRule,
        MainsState,
        MainsThresholds,
        Outage,
        Relay,
        RelayError,
        RelayFailSafe,
    )
    from hardware_bridge.modbus import (
        IoPoint,
        ModbusReadBackMismatch,
        ModbusWriteError,
        Profile,
        ProfileCatalogue,
        ProfileError,
        ScanHit,
        load_catalogue,
    )
    from hardware_bridge.models import (
        BillingPeriod,
        DeviceInfo,
        DeviceSnapshot,
        LineProtocol,
        MeasurementSpec,
        PollGroup,
        Value,
    )
    from hardware_bridge.serial_line import SerialSettings
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

__version__ = "0.2.0"

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "IoPoint",
            "ModbusReadBackMismatch",
            "ModbusWriteError",
            "Profile",
            "ProfileCatalogue",
            "ProfileError",
            "ScanHit",
            "load_catalogue",
        ),
        "hardware_bridge.modbus",
    ),
    **dict.fromkeys(
        (
            "AccessTechnology",
            "CellularError",
            "Modem",
            "ModemSettings",
            "ModemStatus",
            "Registration",
            "SimState",
            "SmsError",
        ),
        "hardware_bridge.cellular",
    ),
    **dict.fromkeys(
        (
            "Bias",
            "Clock",
            "FailSafeAction",
            "FailSafeEvent",
            "FailSafeSupervisor",
            "GpioBackend",
            "GpioChip",
            "GpioConfig",
            "GpioConfigError",
            "GpioError",
            "GpiodChip",
            "GpiodMissingError",
            "GpioInputConfig",
            "GpioRelayConfig",
            "InputDebouncer",
            "InputEvent",
            "MainsMonitor",
            "MainsRule",
            "MainsState",
            "MainsThresholds",
            "Outage",
            "Relay",
            "RelayError",
            "RelayFailSafe",
        ),
        "hardware_bridge.io",
    ),
    **dict.fromkeys(
        (
            "BillingPeriod",
            "DeviceInfo",
            "DeviceSnapshot",
            "LineProtocol",
            "MeasurementSpec",
            "PollGroup",
            "Value",
        ),
        "hardware_bridge.models",
    ),
    "SerialSettings": "hardware_bridge.serial_line",
    **dict.fromkeys(
        (
            "LineConfig",
            "LineTerminal",
            "LineUnavailableError",
            "MeterConfig",
            "ModbusDeviceConfig",
            "manufacturer_name",
            "meter_specs",
            "profile_specs",
            "scan_modbus_line",
        ),
        "hardware_bridge.terminal",
    ),
}

__all__ = [
    "AccessTechnology",
    "Bias",
    "BillingPeriod",
    "CellularError",
    "Clock",
    "DeviceInfo",
    "DeviceSnapshot",
    "FailSafeAction",
    "FailSafeEvent",
    "FailSafeSupervisor",
    "GpioBackend",
    "GpioChip",
    "GpioConfig",
    "GpioConfigError",
    "GpioError",
    "GpioInputConfig",
    "GpioRelayConfig",
    "GpiodChip",
    "GpiodMissingError",
    "InputDebouncer",
    "InputEvent",
    "IoPoint",
    "LineConfig",
    "LineProtocol",
    "LineTerminal",
    "LineUnavailableError",
    "MainsMonitor",
    "MainsRule",
    "MainsState",
    "MainsThresholds",
    "MeasurementSpec",
    "MeterConfig",
    "ModbusDeviceConfig",
    "ModbusReadBackMismatch",
    "ModbusWriteError",
    "Modem",
    "ModemSettings",
    "ModemStatus",
    "Outage",
    "PollGroup",
    "Profile",
    "ProfileCatalogue",
    "ProfileError",
    "Registration",
    "Relay",
    "RelayError",
    "RelayFailSafe",
    "ScanHit",
    "SerialSettings",
    "SimState",
    "SmsError",
    "Value",
    "__version__",
    "load_catalogue",
    "manufacturer_name",
    "meter_specs",
    "profile_specs",
    "scan_modbus_line",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hardware_bridge' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
