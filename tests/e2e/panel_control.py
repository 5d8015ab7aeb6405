"""Hands on the simulated panel while ``scripts/develop`` runs: flip a board's inputs, cut and
restore the site's mains.

One small command language, typed in the terminal that runs ``scripts/develop`` or sent to
``http://127.0.0.1:<control port>/`` (``curl -d i3 http://127.0.0.1:8124/``):

* ``i3``      toggle input 3 of the I/O board (``i3 on`` / ``i3 off`` to set it; ``i3@5`` for
  the board at address 5 when there are several);
* ``m``       cut the mains, or restore it (``m off`` / ``m on`` to set it);
* ``s``       what the panel's inputs, relays and mains are now;
* ``h``       these commands.

A cut is physical: the analysers and relays read 0 V (they answer on an auxiliary supply), and
the board's mains-present input (:data:`MAINS_PRESENT_INPUT`, wired to a contact that mains
holds closed) opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import TextIO

from aiohttp import web

from hardware_bridge.simulators.modbus_io_boards import IoBoard
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator

__all__ = ["HELP", "MAINS_PRESENT_INPUT", "PanelControl"]

MAINS_PRESENT_INPUT = 8
"""The board input wired to a mains-present contact (closed while the mains is there)."""

_OUTAGE_WINDOW = 2.0
"""Simulated seconds each renewal of a held cut covers ahead (renewed every second)."""

HELP = """\
  i<N>        toggle input N of the I/O board (i<N> on | i<N> off; i<N>@<address> for another board)
  m           cut the mains, or restore it (m off | m on)
  s           status: inputs, relays, mains
  h           this help"""


class CommandError(ValueError):
    """A command that cannot be done, with the reason for the person who typed it."""


class PanelControl:
    """Applies commands to a running :class:`ModbusLineSimulator`."""

    def __init__(self, sim: ModbusLineSimulator, board_ids: list[int]) -> None:
        self.sim = sim
        self.board_ids = board_ids
        self.mains = True
        self._holder: asyncio.Task[None] | None = None
        for board in self._boards():
            if len(board.inputs) >= MAINS_PRESENT_INPUT:
                board.set_input(MAINS_PRESENT_INPUT, True)  # the mains is there at the start

    def _boards(self) -> list[IoBoard]:
        return [self.sim.board(i) for i in self.board_ids]

    # -- commands --------------------------------------------------------------------------
    def command(self, line: str) -> str:
        """Do one command; the answer to show (``CommandError``'s text for a bad one)."""
        words = line.strip().lower().split()
        if not words:
            return ""
        try:
            head, arg = words[0], words[1] if len(words) > 1 else None
            if len(words) > 2:
                raise CommandError(f"too many words in {line.strip()!r}")
            if head in ("h", "help", "?"):
                return HELP
            if head in ("s", "status"):
                return self.status()
            if head == "m":
                return self._mains(_on_off(arg, toggle=not self.mains))
            if head.startswith("i"):
                return self._input(head[1:], arg)
            raise CommandError(f"unknown command {words[0]!r}")
        except CommandError as err:
            return f"{err} (h: help)"

    def _input(self, spec: str, arg: str | None) -> str:
        number_text, _, address_text = spec.partition("@")
        if not self.board_ids:
            raise CommandError("no I/O board on the simulated line")
        if not number_text.isdigit() or (address_text and not address_text.isdigit()):
            raise CommandError(f"expected i<N> or i<N>@<address>, not i{spec!r}")
        address = int(address_text) if address_text else self.board_ids[0]
        if address not in self.board_ids:
            raise CommandError(f"no I/O board at address {address} (boards: {self.board_ids})")
        board = self.sim.board(address)
        number = int(number_text)
        if not 1 <= number <= len(board.inputs):
            raise CommandError(f"the board at {address} has inputs 1-{len(board.inputs)}")
        active = _on_off(arg, toggle=not board.inputs[number - 1])
        board.set_input(number, active)
        return f"board {address} input {number}: {'closed' if active else 'open'}"

    def _mains(self, present: bool) -> str:
        if present != self.mains:
            self.mains = present
            for board in self._boards():
                if len(board.inputs) >= MAINS_PRESENT_INPUT:
                    board.set_input(MAINS_PRESENT_INPUT, present)
            if present:
                if self._holder is not None:
                    self._holder.cancel()
                    self._holder = None
            else:
                self._cut_ahead()
                self._holder = asyncio.get_running_loop().create_task(self._hold_outage())
        return "mains: " + ("present" if present else "cut (0 V, no load)")

    def _cut_ahead(self) -> None:
        self.sim.mains_outage(self.sim.time + 1e-3, self.sim.time + _OUTAGE_WINDOW)

    async def _hold_outage(self) -> None:
        """Keep the outage going in short windows, so that it can end when asked (the
        simulator schedules outages with an end; this one has none until restored)."""
        while True:
            await asyncio.sleep(1.0)
            self._cut_ahead()

    def status(self) -> str:
        lines = [f"mains: {'present' if self.mains else 'cut'}"]
        for board in self._boards():
            inputs = "".join("1" if s else "0" for s in board.inputs)
            relays = "".join("1" if s else "0" for s in board.relays)
            lines.append(f"board {board.device_id}: inputs {inputs}  relays {relays} (1 = on)")
        return "\n".join(lines)

    async def close(self) -> None:
        if self._holder is not None:
            self._holder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._holder
            self._holder = None

    # -- where commands come from -------------------------------------------------------------
    async def serve_http(self, port: int) -> web.AppRunner:
        """``POST /`` with a command as the body → the answer as text; ``GET /`` → status."""

        async def post(request: web.Request) -> web.Response:
            return web.Response(text=self.command(await request.text()) + "\n")

        async def get(_request: web.Request) -> web.Response:
            return web.Response(text=self.status() + "\n\n" + HELP + "\n")

        app = web.Application()
        app.router.add_post("/", post)
        app.router.add_get("/", get)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    def read_stdin(self, stream: TextIO = sys.stdin) -> None:
        """Take commands typed in the terminal, one a line (until end of input)."""
        loop = asyncio.get_running_loop()
        fd = stream.fileno()

        def readable() -> None:
            line = stream.readline()
            if not line:
                loop.remove_reader(fd)
                return
            answer = self.command(line)
            if answer:
                print(answer, flush=True)

        loop.add_reader(fd, readable)


def _on_off(arg: str | None, *, toggle: bool) -> bool:
    if arg is None:
        return toggle
    if arg in ("on", "1", "closed", "close"):
        return True
    if arg in ("off", "0", "open"):
        return False
    raise CommandError(f"expected on or off, not {arg!r}")
