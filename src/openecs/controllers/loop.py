"""Run reconcile steps periodically, each in a worker thread, none ever crashing the server.

A step is level-triggered: it re-reads current state and acts on it, so a
step that fails simply runs again on its next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from openecs.platform.signals import Signals

__all__ = ["ControllerLoop", "Step"]

log = logging.getLogger("openecs.controllers")


@dataclass(frozen=True)
class Step:
    name: str
    interval: float
    run: Callable[[], object]
    # Run at once (not only every `interval`) when this key is notified.
    wake: tuple[Signals, str] | None = None


class ControllerLoop:
    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._every(step)) for step in self.steps]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _every(self, step: Step) -> None:
        if step.wake is None:
            while True:
                await self._run(step)
                await asyncio.sleep(step.interval)
        signals, key = step.wake
        while True:
            # Listen before running, so a change made during the run triggers the next one.
            with signals.listen(key) as woken:
                await self._run(step)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), step.interval)

    async def _run(self, step: Step) -> None:
        try:
            await run_in_threadpool(step.run)
        except Exception:
            log.exception("controller step failed", extra={"step": step.name})
