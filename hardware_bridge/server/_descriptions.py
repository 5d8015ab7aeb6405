"""Terminal descriptions (devices, points, relays), one JSON file per modem.

The server's :class:`~hardware_bridge.server.storage.Storage` has no table for descriptions
yet, so they live in ``descriptions/`` under the server's state directory, written atomically
(temporary file, fsync, rename). A terminal sends its description on every start, so a lost
file heals at the terminal's next start. Several server processes must share the state
directory until the description moves into the database.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path

from hardware_bridge.api import ApiValidationError, TerminalDescription

__all__ = ["DescriptionStore"]


class DescriptionStore:
    def __init__(self, directory: Path | str) -> None:
        self._dir = Path(directory)
        self._cache: dict[str, TerminalDescription] = {}

    def _path(self, modem_no: str) -> Path:
        # Modem numbers match ^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$ (checked by the API layer):
        # no separator, never "." or "..".
        return self._dir / f"{modem_no}.json"

    async def get(self, modem_no: str) -> TerminalDescription | None:
        if modem_no in self._cache:
            return self._cache[modem_no]
        loop = asyncio.get_running_loop()
        description = await loop.run_in_executor(None, self._read, modem_no)
        if description is not None:
            self._cache[modem_no] = description
        return description

    async def put(self, modem_no: str, description: TerminalDescription) -> None:
        text = json.dumps(description.to_json(), ensure_ascii=False, separators=(",", ":"))
        await asyncio.get_running_loop().run_in_executor(None, self._write, modem_no, text)
        self._cache[modem_no] = description

    def _read(self, modem_no: str) -> TerminalDescription | None:
        try:
            text = self._path(modem_no).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return TerminalDescription.from_json(json.loads(text))
        except (ValueError, ApiValidationError):
            return None  # unreadable: as if never sent; the terminal resends it at start

    def _write(self, modem_no: str, text: str) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self._dir, prefix=".desc-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self._path(modem_no))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
