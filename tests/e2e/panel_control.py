"""Hands on the simulated panel while ``scripts/develop`` runs: flip a board's inputs, cut and
restore the site's mains.

One small command language, typed in the terminal that runs ``scripts/develop`` or sent to
``http://127.0.0.1:<control port>/`` (``curl -d i3 http://127.0.0.1:8124/``):

* ``i3``      toggle input 3 of the I/O board (``i3 on`` / ``i3 off`` to set it; ``i3@5`` for
  the board at address 5 when there are several);
* ``m``       cut the mains, or restore it (``m off`` / ``m on`` to set it);
* ``sig 12``  the modem's signal quality (CSQ 0–31; 99 unknown);
* ``reg roaming``  the modem's registration (home, roaming, searching, denied, unknown);
* ``s``       what the panel's inputs, relays, mains and modem are now;
* ``h``       these commands.

A cut is physical: the analysers and relays read 0 V (they answer on an auxiliary supply), and
the board's mains-present input (:data:`MAINS_PRESENT_INPUT`, wired to a contact that mains
holds closed) opens. SMS the modem sends are printed as they arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import TextIO

from aiohttp import web

from hardware_bridge.simulators.at_modem import ModemSimulator
from hardware_bridge.simulators.modbus_io_boards import IoBoard
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator

__all__ = ["HELP", "MAINS_PRESENT_INPUT", "PanelControl"]

MAINS_PRESENT_INPUT = 8
"""The board input wired to a mains-present contact (closed while the mains is there)."""

REGISTRATIONS = ("home", "roaming", "searching", "denied", "unknown")

HELP = """\
  i<N>        toggle input N of the I/O board (i<N> on | i<N> off; i<N>@<address> for another board)
  m           cut the mains, or restore it (m off | m on)
  sig <N>     the modem's signal quality, CSQ 0-31 (99: unknown)
  reg <R>     the modem's registration: home, roaming, searching, denied, unknown
  s           status: inputs, relays, mains
  h           this help"""


class CommandError(ValueError):
    """A command that cannot be done, with the reason for the person who typed it."""


class PanelControl:
    """Applies commands to a running :class:`ModbusLineSimulator`."""

    def __init__(
        self,
        sim: ModbusLineSimulator,
        board_ids: list[int],
        modem: ModemSimulator | None = None,
    ) -> None:
        self.sim = sim
        self.board_ids = board_ids
        self.modem = modem
        self.mains = True
        self._sms_shown = 0
        self._sms_watch: asyncio.Task[None] | None = None
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
            if head in ("sig", "reg"):
                return self._modem(head, arg)
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
                self.sim.restore_mains(self.sim.time + 1e-3)
            else:
                self.sim.mains_outage(self.sim.time + 1e-3)
        return "mains: " + ("present" if present else "cut (0 V, no load)")

    def _modem(self, head: str, arg: str | None) -> str:
        if self.modem is None:
            raise CommandError("no modem on the simulated panel")
        state = self.modem.state
        if head == "sig":
            if arg is None or not arg.isdigit() or not (int(arg) <= 31 or int(arg) == 99):
                raise CommandError("expected sig <0-31> (99: unknown)")
            state.csq = int(arg)
            dbm = "unknown" if state.csq == 99 else f"{-113 + 2 * state.csq} dBm"
            return f"modem signal: CSQ {state.csq} ({dbm})"
        if arg not in REGISTRATIONS:
            raise CommandError(f"expected reg <{'|'.join(REGISTRATIONS)}>")
        state.registration = arg  # type: ignore[assignment]
        return f"modem registration: {arg}"

    def watch_sms(self) -> None:
        """Print each SMS the modem sends (what an alarm automation texted)."""
        if self.modem is None:
            return

        async def watch() -> None:
            while True:
                await asyncio.sleep(0.5)
                self.print_new_sms()

        self._sms_watch = asyncio.get_running_loop().create_task(watch())

    def print_new_sms(self) -> None:
        if self.modem is None:
            return
        for sms in self.modem.sent[self._sms_shown :]:
            part = sms.decoded
            which = f" part {part.concat[2]}/{part.concat[1]}" if part.concat else ""
            print(f"modem: SMS to {part.number}{which}: {part.text}", flush=True)
        self._sms_shown = len(self.modem.sent)

    def status(self) -> str:
        lines = [f"mains: {'present' if self.mains else 'cut'}"]
        if self.modem is not None:
            state = self.modem.state
            lines.append(
                f"modem: SIM {state.sim}, {state.registration}, CSQ {state.csq}, "
                f"{len(self.modem.sent)} SMS part(s) sent"
            )
        for board in self._boards():
            inputs = "".join("1" if s else "0" for s in board.inputs)
            relays = "".join("1" if s else "0" for s in board.relays)
            lines.append(f"board {board.device_id}: inputs {inputs}  relays {relays} (1 = on)")
        return "\n".join(lines)

    async def close(self) -> None:
        if self._sms_watch is not None:
            self._sms_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sms_watch
            self._sms_watch = None

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
