"""The strict fake server, made slow to answer and keeping every store it made.

A batch request waits ``delays()`` seconds before it is stored and again before it is
answered, so a terminal killed at a random moment is often killed with its batch in flight:
before the server stored it, or after (the answer lost with the process). Every reading or
event stored is logged with the batch's stream (the terminal's queue id) and its sequence
number, so a test can count at the receiving end what arrived, and how often.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hardware_bridge.api import parse_batch

from .fake_server import FakeServer


@dataclass
class Stored:
    """One item as the server stored it."""

    stream: str
    seq: int
    item: Any
    """A ``BatchReading``, a ``BatchEvent`` or a ``Gap``."""


@dataclass
class SlowServer(FakeServer):
    delays: Callable[[], tuple[float, float]] = lambda: (0.0, 0.0)
    """(before storing, before answering) for the next batch request."""
    log: list[Stored] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a batch request comes in (the test clears it)."""
    in_flight: int = 0
    last_hold: float = 0.0

    @classmethod
    def seeded(cls, rng: random.Random, slow: float) -> SlowServer:
        def delays() -> tuple[float, float]:
            before = rng.uniform(0, slow) if rng.random() < 0.5 else 0.0
            after = rng.uniform(0, slow) if rng.random() < 0.5 else 0.0
            return before, after

        return cls(delays=delays)

    async def _batch(self, request: web.Request) -> web.Response:
        before, after = self.delays()
        self.last_hold = before + after
        self.in_flight += 1
        self.arrived.set()
        try:
            await asyncio.sleep(before)
            count = len(self.stored)
            response = await super()._batch(request)
            if len(self.stored) > count:
                batch = parse_batch(await request.read())
                by_seq: dict[int, Any] = {r.seq: r for r in batch.readings}
                by_seq.update((e.seq, e) for e in batch.events)
                for gap in batch.gaps:
                    by_seq.update((seq, gap) for seq in range(gap.first_seq, gap.last_seq + 1))
                # the stream field, or the queue id the batch id starts with (q<id>-first-last)
                stream = batch.stream or batch.batch_id.split("-")[0].removeprefix("q")
                self.log.extend(Stored(stream, seq, by_seq[seq]) for seq in self.stored[count:])
            await asyncio.sleep(after)
            return response
        finally:
            self.in_flight -= 1
