"""A one-time import of the description files earlier releases kept in the state directory.

Those releases wrote each terminal's description to ``descriptions/<Modem No>.json``. The
descriptions now live in the :class:`Storage`, which every server process shares; at start the
server moves the files in (never over a description stored since) and renames the folder
``descriptions.imported``, so the import runs once and the files stay for a look back.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from hardware_bridge.api import ApiValidationError, TerminalDescription
from hardware_bridge.server.storage import Storage

__all__ = ["IMPORTED_SUFFIX", "import_description_files"]

_LOGGER = logging.getLogger(__name__)

IMPORTED_SUFFIX = ".imported"


def _read(directory: Path) -> tuple[list[tuple[str, str, datetime]], list[str]]:
    """(Modem No, document, file time) of each valid file; the names of the others."""
    found: list[tuple[str, str, datetime]] = []
    refused: list[str] = []
    for path in sorted(directory.glob("*.json")):
        try:
            text = path.read_text(encoding="utf-8")
            description = TerminalDescription.from_json(json.loads(text))
            stat = path.stat()
        except (OSError, UnicodeDecodeError, ValueError, ApiValidationError):
            refused.append(path.name)
            continue
        if description.modem_no != path.stem:
            refused.append(path.name)
            continue
        document = json.dumps(
            description.to_json(), ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
        found.append((path.stem, document, datetime.fromtimestamp(stat.st_mtime, UTC)))
    return found, refused


async def import_description_files(storage: Storage, directory: Path) -> int | None:
    """Store the descriptions ``directory`` holds, then rename it; returns how many were
    stored (None: no such directory, nothing to do). A file that is not a valid description
    of the modem it is named after is left out, as the earlier release ignored it."""
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, directory.is_dir):
        return None
    found, refused = await loop.run_in_executor(None, _read, directory)
    stored = 0
    for modem_no, document, at in found:
        if await storage.put_description(modem_no, document, at=at, replace=False):
            stored += 1
    if refused:
        _LOGGER.warning(
            "%s: %d files are not valid descriptions and were not imported: %s",
            directory,
            len(refused),
            ", ".join(refused[:10]),
        )
    target = directory.with_name(directory.name + IMPORTED_SUFFIX)
    try:
        await loop.run_in_executor(None, directory.rename, target)
    except OSError as err:
        # imported all the same; a later start imports again and keeps what is stored
        _LOGGER.warning("%s: imported, but not renamed to %s: %s", directory, target, err)
    else:
        _LOGGER.info(
            "imported %d terminal descriptions from %s into the database (folder now %s)",
            stored,
            directory,
            target.name,
        )
    return stored
