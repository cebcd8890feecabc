"""The database handle: engine set-up for SQLite and PostgreSQL, and the two
kinds of transaction every use case runs in.

Durability: a write transaction commits before the caller answers. On SQLite
that means WAL with synchronous=FULL (a commit is fsynced), and BEGIN
IMMEDIATE so that two writers never deadlock on a lock upgrade; an in-process
lock keeps this process's writers from spinning on SQLITE_BUSY.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError as DBAPIOperationalError

__all__ = ["Database"]

_WRITE = "openecs_write"


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url,
                pool_size=16,
                max_overflow=32,
                connect_args={"check_same_thread": False, "timeout": 30},
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(url, pool_size=16, max_overflow=16, pool_pre_ping=True)
        self._write_lock: threading.Lock | None = threading.Lock() if self.is_sqlite else None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: a consistent snapshot."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; committed (durably) when the block exits cleanly."""
        lock = self._write_lock if self._write_lock is not None else nullcontext()
        with lock, self.engine.connect() as conn:
            conn = conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite's implicit transactions are unreliable).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Straight to the driver: SQLAlchemy's statement machinery (exec_driver_sql) cost
        # about a sixth of a simple read transaction, on every transaction.
        statement = "BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN"
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            driver.execute(statement)
        except sqlite3.OperationalError as exc:
            # Raised past SQLAlchemy's wrapping: wrap it as SQLAlchemy would, so callers
            # see one error type ("database is locked" after busy_timeout is retryable).
            raise DBAPIOperationalError(statement, None, exc) from exc
