"""Modbus RTU: device profiles as data, a request planner, and a bus master per serial line.

Typical use::

    catalogue = load_catalogue(user_dir)             # shipped + user profiles
    async with ModbusBus(SerialSettings(port="/dev/ttyUSB0")) as bus:
        reading = await bus.read_device(5, catalogue.get("eastron_sdm630"))
        reading.values["voltage_l1"]                  # None when unavailable, never 0
"""

from hardware_bridge.modbus._bus import (
    DeviceHealth,
    DeviceReading,
    ModbusBus,
    RequestFailure,
    ScanHit,
    Value,
    default_inter_frame_delay,
)
from hardware_bridge.modbus._codec import decode_point, decode_raw, encode_raw, raw_for_value
from hardware_bridge.modbus._errors import (
    ModbusBusError,
    ModbusConnectionError,
    ModbusDeviceError,
    ModbusExceptionResponse,
    ModbusNoResponse,
    ModbusReadBackMismatch,
    ModbusWriteError,
    ProfileError,
)
from hardware_bridge.modbus._loader import (
    ProfileCatalogue,
    load_catalogue,
    load_profile,
    load_profile_data,
    load_profile_text,
)
from hardware_bridge.modbus._planner import (
    DEFAULT_MAX_GAP,
    DEFAULT_REACTION_TIME,
    IoRead,
    ReadRequest,
    break_even_gap,
    plan_io_reads,
    plan_reads,
    request_cost,
    silent_interval,
)
from hardware_bridge.modbus._profile import (
    Bit,
    DataType,
    Hole,
    InitWrite,
    IoPoint,
    Point,
    PollGroup,
    Probe,
    Profile,
    ReadBack,
    SerialDefaults,
    WordOrder,
    WriteCommand,
)
from hardware_bridge.modbus._rtu import crc16

__all__ = [
    "DEFAULT_MAX_GAP",
    "DEFAULT_REACTION_TIME",
    "Bit",
    "DataType",
    "DeviceHealth",
    "DeviceReading",
    "Hole",
    "InitWrite",
    "IoPoint",
    "IoRead",
    "ModbusBus",
    "ModbusBusError",
    "ModbusConnectionError",
    "ModbusDeviceError",
    "ModbusExceptionResponse",
    "ModbusNoResponse",
    "ModbusReadBackMismatch",
    "ModbusWriteError",
    "Point",
    "PollGroup",
    "Probe",
    "Profile",
    "ProfileCatalogue",
    "ProfileError",
    "ReadBack",
    "ReadRequest",
    "RequestFailure",
    "ScanHit",
    "SerialDefaults",
    "Value",
    "WordOrder",
    "WriteCommand",
    "break_even_gap",
    "crc16",
    "decode_point",
    "decode_raw",
    "default_inter_frame_delay",
    "encode_raw",
    "load_catalogue",
    "load_profile",
    "load_profile_data",
    "load_profile_text",
    "plan_io_reads",
    "plan_reads",
    "raw_for_value",
    "request_cost",
    "silent_interval",
]
