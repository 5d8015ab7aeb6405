"""The SmartPower API: one typed model for every side, the batch body encoding, an async client.

The contract is ``docs/api/smartpower.openapi.yaml``. Importing this package needs aiohttp
(the ``api`` extra) only for :class:`SmartPowerClient`.
"""

import importlib
from typing import TYPE_CHECKING

from hardware_bridge.api._batch import (
    BATCH_CONTENT_TYPE,
    MAX_BATCH_BYTES,
    Batch,
    BatchAck,
    BatchEvent,
    BatchReading,
    Gap,
    decode_batch,
    encode_batch,
    parse_batch,
    to_millisecond,
)
from hardware_bridge.api._errors import (
    ApiError,
    ApiValidationError,
    InvalidAuthCode,
    NotFound,
    RateLimited,
    ServerUnreachable,
    SmartPowerError,
    TlsError,
    Unauthorized,
)
from hardware_bridge.api._events import decode_event
from hardware_bridge.api._fields import WireValue, format_time, parse_time, wire_value
from hardware_bridge.api._model import (
    AccessTechnology,
    Alarm,
    Claim,
    ClaimRequest,
    Command,
    CommandOutcome,
    CommandRequest,
    CommandStatus,
    CommandType,
    DeviceDescription,
    DeviceProtocol,
    Enrolment,
    EnrolmentAck,
    ErrorBody,
    IoDescription,
    IoKind,
    ModemReport,
    OutcomeStatus,
    PendingCommands,
    PointDescription,
    PointKind,
    Reading,
    ReadingsPage,
    Registration,
    TerminalDescription,
)
from hardware_bridge.api._sse import SseEvent, SseParser, SseTooLarge

if TYPE_CHECKING:
    from hardware_bridge.api._client import API_PREFIX, SmartPowerClient

__all__ = [
    "API_PREFIX",
    "BATCH_CONTENT_TYPE",
    "MAX_BATCH_BYTES",
    "AccessTechnology",
    "Alarm",
    "ApiError",
    "ApiValidationError",
    "Batch",
    "BatchAck",
    "BatchEvent",
    "BatchReading",
    "Claim",
    "ClaimRequest",
    "Command",
    "CommandOutcome",
    "CommandRequest",
    "CommandStatus",
    "CommandType",
    "DeviceDescription",
    "DeviceProtocol",
    "Enrolment",
    "EnrolmentAck",
    "ErrorBody",
    "Gap",
    "InvalidAuthCode",
    "IoDescription",
    "IoKind",
    "ModemReport",
    "NotFound",
    "OutcomeStatus",
    "PendingCommands",
    "PointDescription",
    "PointKind",
    "RateLimited",
    "Reading",
    "ReadingsPage",
    "Registration",
    "ServerUnreachable",
    "SmartPowerClient",
    "SmartPowerError",
    "SseEvent",
    "SseParser",
    "SseTooLarge",
    "TerminalDescription",
    "TlsError",
    "Unauthorized",
    "WireValue",
    "decode_batch",
    "decode_event",
    "encode_batch",
    "format_time",
    "parse_batch",
    "parse_time",
    "to_millisecond",
    "wire_value",
]


def __getattr__(name: str) -> object:
    # the client needs aiohttp (the ``api`` extra); the model does not
    if name in ("SmartPowerClient", "API_PREFIX"):
        return getattr(importlib.import_module("hardware_bridge.api._client"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
