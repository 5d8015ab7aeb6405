"""Terminal descriptions live in the database: any server process answers with the one a
terminal sent to another, and the files earlier releases kept are imported once."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from hardware_bridge.api import CommandRequest
from hardware_bridge.server._description_files import import_description_files
from hardware_bridge.server.service import ServerService
from hardware_bridge.server.storage import open_storage

from .http_harness import AUTH_CODE, MODEM, OTHER, description, running_server

pytestmark = pytest.mark.usefixtures("socket_enabled")


async def test_a_description_sent_to_one_process_is_read_through_another(
    database: str, tmp_path: Path
) -> None:
    """Two server processes on one database, each with its own state directory."""
    async with (
        running_server(database, tmp_path / "a") as first,
        running_server(database, tmp_path / "b") as second,
    ):
        terminal, _ = await first.enrolled_terminal()
        client = second.client()
        await client.claim(MODEM, AUTH_CODE)
        assert await client.description(MODEM) == description()

        renamed = replace(description(), name="Well 2")
        await terminal.put_description(MODEM, renamed)
        assert (await client.description(MODEM)).name == "Well 2"  # no stale copy anywhere
        # the relay check of a command reads the same description
        await client.send_command(MODEM, CommandRequest(device="terminal", key="pump", state=True))
    for state_dir in (tmp_path / "a", tmp_path / "b"):
        assert not (state_dir / "descriptions").exists()


async def test_description_files_of_an_earlier_release_are_imported_once(
    database: str, tmp_path: Path
) -> None:
    folder = tmp_path / "descriptions"
    folder.mkdir()
    (folder / f"{MODEM}.json").write_text(json.dumps(description().to_json()), encoding="utf-8")
    newer = replace(description(OTHER), name="Sent since")
    (folder / f"{OTHER}.json").write_text(
        json.dumps(description(OTHER).to_json()), encoding="utf-8"
    )
    (folder / "SP2611300003.json").write_text("{not json", encoding="utf-8")
    # a file named after one modem holding another's description is not taken
    (folder / "SP2611300004.json").write_text(
        json.dumps(description(MODEM).to_json()), encoding="utf-8"
    )

    storage = await open_storage(database, state_dir=tmp_path)
    try:
        service = ServerService(storage)
        # a description stored since the upgrade (by another process) is kept
        await service.put_description(OTHER, newer)
        assert await import_description_files(storage, folder) == 1
        assert await service.description(MODEM) == description()
        assert await service.description(OTHER) == newer
        for missing in ("SP2611300003", "SP2611300004"):
            assert await storage.description(missing) is None
        assert not folder.exists()
        assert (tmp_path / "descriptions.imported" / f"{MODEM}.json").exists()
        # the folder is not read again
        assert await import_description_files(storage, folder) is None
        service.close()
    finally:
        await storage.close()
