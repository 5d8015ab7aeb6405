"""Server-sent events, sans-I/O (HTML Living Standard, "Server-sent events", 9.2.6).

Feed the bytes of a ``text/event-stream`` as they arrive, in chunks of any size; complete
events come out. Lines end in CRLF, LF or CR (a CR at the end of one chunk and an LF at the
start of the next are one line end); ``:`` starts a comment; ``data`` lines join with ``\\n``;
``id`` persists until changed; ``retry`` is taken only when it is all digits. A blank line
dispatches the event; an event without data is dropped.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

__all__ = ["MAX_EVENT_BYTES", "SseEvent", "SseParser", "SseTooLarge"]

MAX_EVENT_BYTES = 1024 * 1024
"""The most an unfinished line or event may hold before the stream is refused."""


class SseTooLarge(ValueError):
    """A line or an event grew past the parser's bound."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SseEvent:
    event: str
    data: str
    id: str | None = None
    """The last event id in force when this event was dispatched."""
    retry: int | None = None
    """The reconnection time in milliseconds, if the stream set one so far."""


class SseParser:
    def __init__(self, *, max_bytes: int = MAX_EVENT_BYTES) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max = max_bytes
        self._line = ""
        self._skip_lf = False
        self._first = True
        self._event = ""
        self._data: list[str] = []
        self._size = 0
        self.last_event_id: str | None = None
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Parse a chunk; return the events it completed (b"" ends the stream)."""
        text = self._decoder.decode(chunk, final=not chunk)
        if self._first and text:
            text = text.removeprefix("\ufeff")
            self._first = False
        events: list[SseEvent] = []
        start = 0
        index = 0
        while index < len(text):
            char = text[index]
            if char == "\n" and self._skip_lf and index == start and not self._line:
                self._skip_lf = False
                start = index + 1
            elif char in "\r\n":
                self._skip_lf = char == "\r"
                line = self._line + text[start:index]
                self._line = ""
                event = self._process(line)
                if event is not None:
                    events.append(event)
                start = index + 1
            else:
                self._skip_lf = False
            index += 1
        self._line += text[start:]
        if len(self._line) > self._max:
            raise SseTooLarge(f"event stream line longer than {self._max} characters")
        return events

    def _process(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
            self._size += len(value) + 1
            if self._size > self._max:
                raise SseTooLarge(f"event larger than {self._max} characters")
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value or None
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        data, event = self._data, self._event
        self._data, self._event, self._size = [], "", 0
        if not data:
            return None
        return SseEvent(
            event=event or "message",
            data="\n".join(data),
            id=self.last_event_id,
            retry=self.retry,
        )
