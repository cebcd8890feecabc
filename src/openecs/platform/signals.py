"""Keyed wake-ups from worker threads to asyncio waiters.

A use case, running in a worker thread, commits a change for a key (say, a
container instance) and calls `notify(key)`; a long poll awaiting that key in
the event loop wakes at once. This is what makes task placement a push.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

__all__ = ["Signals"]


class Signals:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = (
            defaultdict(set)
        )

    def notify(self, keys: Iterable[str]) -> None:
        with self._lock:
            targets = [w for key in keys for w in self._waiters.get(key, ())]
        for loop, event in targets:
            loop.call_soon_threadsafe(event.set)

    @contextmanager
    def listen(self, *keys: str) -> Iterator[asyncio.Event]:
        """An event set by the next `notify` of any of `keys`. Listen before reading
        the state you wait to change, so a change between the read and the wait
        is not lost."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            for key in keys:
                self._waiters[key].add(entry)
        try:
            yield event
        finally:
            with self._lock:
                for key in keys:
                    waiters = self._waiters.get(key)
                    if waiters is not None:
                        waiters.discard(entry)
                        if not waiters:
                            del self._waiters[key]

    async def wait(self, key: str, timeout: float) -> bool:
        """Wait for `notify(key)`; True if notified, False on timeout."""
        with self.listen(key) as event:
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except TimeoutError:
                return False
            return True
