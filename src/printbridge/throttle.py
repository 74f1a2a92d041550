"""Sign-in lockout shared by every worker process: failures are rows in a small SQLite file."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Throttle:
    def __init__(self, path: Path, max_attempts: int, lockout_minutes: int) -> None:
        self.path = path
        self.max_attempts = max_attempts
        self.window = lockout_minutes * 60
        with self.connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS failures (key TEXT NOT NULL, at REAL NOT NULL)")
            db.execute("CREATE INDEX IF NOT EXISTS failures_key ON failures (key, at)")

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        # A fresh connection per call: gunicorn workers are processes, SQLite does the locking.
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            yield db
        finally:
            db.close()

    def locked(self, *keys: str) -> bool:
        """True when any key (a user name or a client address) failed max_attempts times within the window."""
        since = time.time() - self.window
        with self.connect() as db:
            for key in keys:
                (count,) = db.execute("SELECT COUNT(*) FROM failures WHERE key = ? AND at > ?", (key, since)).fetchone()
                if count >= self.max_attempts:
                    return True
        return False

    def failed(self, *keys: str) -> None:
        now = time.time()
        with self.connect() as db:
            db.executemany("INSERT INTO failures (key, at) VALUES (?, ?)", [(key, now) for key in keys])
            db.execute("DELETE FROM failures WHERE at < ?", (now - self.window,))

    def succeeded(self, key: str) -> None:
        with self.connect() as db:
            db.execute("DELETE FROM failures WHERE key = ?", (key,))
