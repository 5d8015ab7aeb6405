"""The typed payload of an event-stream event (``GET /api/v1/modems/{modem_no}/events``)."""

from __future__ import annotations

import json
from collections.abc import Callable

from hardware_bridge.api._errors import ApiValidationError
from hardware_bridge.api._model import Alarm, Command, Reading
from hardware_bridge.api._sse import SseEvent

__all__ = ["decode_event"]


def decode_event(event: SseEvent) -> Reading | Alarm | Command | None:
    """The typed payload of an event-stream event; None for a kind this client does not know."""
    parsers: dict[str, Callable[[object, str], Reading | Alarm | Command]] = {
        "reading": Reading.from_json,
        "alarm": Alarm.from_json,
        "command": Command.from_json,
    }
    parse = parsers.get(event.event)
    if parse is None:
        return None
    try:
        data = json.loads(event.data)
    except json.JSONDecodeError as err:
        raise ApiValidationError("data", f"event data is not JSON ({err})") from None
    return parse(data, "data")
