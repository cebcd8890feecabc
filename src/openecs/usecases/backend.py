"""What every use case runs against: the database and the clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from openecs.domain.errors import ServerException
from openecs.platform.clock import Clock, SystemClock
from openecs.platform.signals import Signals
from openecs.store.database import Database
from openecs.store.errors import ConcurrentUpdateError
from openecs.store.migrate import upgrade

__all__ = ["Backend"]

T = TypeVar("T")

_RETRIES = 8


@dataclass
class Backend:
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    # Wakes agents' long polls when their desired tasks change.
    instance_signals: Signals = field(default_factory=Signals)
    # Wakes controllers when what they watch changes ("services": a service or its tasks).
    controller_signals: Signals = field(default_factory=Signals)

    @classmethod
    def open(cls, database_url: str, clock: Clock | None = None) -> Backend:
        db = Database(database_url)
        upgrade(db)
        return cls(db=db, clock=clock or SystemClock())

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.db.read() as conn:
            yield conn

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a write transaction, retried when a concurrent writer got there first.

        `work` must be a pure function of what it reads in the transaction, so
        running it again after a conflict is safe.
        """
        for attempt in range(_RETRIES):
            try:
                with self.db.write() as conn:
                    return work(conn)
            except (ConcurrentUpdateError, IntegrityError, OperationalError) as exc:
                if attempt == _RETRIES - 1 or not _retryable(exc):
                    raise ServerException(
                        "The request conflicted with concurrent updates; retry it."
                    ) from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.db.dispose()


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, (ConcurrentUpdateError, IntegrityError)):
        return True
    text = str(exc).lower()
    return "locked" in text or "deadlock" in text or "serializ" in text
