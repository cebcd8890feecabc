"""Sends task state to the control plane as soon as it changes, batched and coalesced.

Reports are absolute (a task's whole state), so only the newest per task
matters: while one batch is in flight, later changes of the same task
replace each other, and a failed batch is simply sent again.

The early states of a start (PENDING, ACTIVATING) are held for a few tens of
milliseconds: a local image and a quick container make RUNNING follow within
that time, and the one report then carries the whole story (its pull and start
timestamps included). That spares the control plane a durable write per state
while Docker is busy starting the container. Any other report sends at once,
and takes whatever is held along.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Reporter"]

_EARLY_STATES = frozenset({"PENDING", "ACTIVATING"})

log = logging.getLogger("openecs.agent.reporter")

Send = Callable[[list[dict[str, Any]]], Awaitable[None]]


class Reporter:
    def __init__(self, send: Send, *, max_backoff: float = 2.0, hold: float = 0.05) -> None:
        self._send = send
        self._hold = hold
        self._held: asyncio.TimerHandle | None = None
        self._pending: dict[str, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._max_backoff = max_backoff

    def submit(self, report: dict[str, Any]) -> None:
        self._pending[str(report["taskArn"])] = report
        self._idle.clear()
        if self._hold > 0 and report.get("lastStatus") in _EARLY_STATES:
            if self._held is None:
                loop = asyncio.get_running_loop()
                self._held = loop.call_later(self._hold, self._send_now)
            return
        self._send_now()

    def _send_now(self) -> None:
        if self._held is not None:
            self._held.cancel()
            self._held = None
        self._wake.set()

    async def flushed(self) -> None:
        """Wait until everything submitted so far has been delivered."""
        await self._idle.wait()

    async def run(self) -> None:
        backoff = 0.05
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch = list(self._pending.values())
            self._pending.clear()
            if not batch:
                self._idle.set()
                continue
            try:
                await self._send(batch)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("report failed, retrying", extra={"error": str(exc)})
                for report in batch:
                    self._pending.setdefault(str(report["taskArn"]), report)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                self._wake.set()
                continue
            if not self._pending:
                self._idle.set()
