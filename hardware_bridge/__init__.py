"""SmartPower hardware bridge: reads meters and Modbus devices over serial lines.

The names exported here are the bridge's public surface for its users (the Home Assistant
integration, the daemon); everything else is internal and may change.
"""

from hardware_bridge.modbus import Profile, ProfileCatalogue, ProfileError, ScanHit, load_catalogue
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

__all__ = [
    "BillingPeriod",
    "DeviceInfo",
    "DeviceSnapshot",
    "LineConfig",
    "LineProtocol",
    "LineTerminal",
    "LineUnavailableError",
    "MeasurementSpec",
    "MeterConfig",
    "ModbusDeviceConfig",
    "PollGroup",
    "Profile",
    "ProfileCatalogue",
    "ProfileError",
    "ScanHit",
    "SerialSettings",
    "Value",
    "__version__",
    "load_catalogue",
    "manufacturer_name",
    "meter_specs",
    "profile_specs",
    "scan_modbus_line",
]
