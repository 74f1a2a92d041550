"""Sign-in lockout shared by every worker process: failures are rows in a small SQLite file.

Two counters: per user name (max_attempts failures lock that name) and per client
address (ADDRESS_FACTOR times as many lock the address). An office behind one NAT
address shares the address counter, so it must not lock everybody out after a few
typos: its threshold is higher, and a successful sign-in from the address forgives the
address's failures as well as the user's. Guessing passwords for many user names from
one address is still stopped by the address limit; guessing one user's password by
the user limit. (Someone with a working account could reset the address counter by
signing in between guesses; each name they guess still locks after max_attempts.)"""

from __future__ import annotations

import time
from pathlib import Path

from printbridge import store

ADDRESS_FACTOR = 4


class Throttle:
    def __init__(self, path: Path, max_attempts: int, lockout_minutes: int) -> None:
        self.path = path
        self.max_attempts = max_attempts
        self.max_address_attempts = max_attempts * ADDRESS_FACTOR
        self.window = lockout_minutes * 60
        with store.connect(self.path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS failures (key TEXT NOT NULL, at REAL NOT NULL)")
            db.execute("CREATE INDEX IF NOT EXISTS failures_key ON failures (key, at)")

    @staticmethod
    def keys(name: str, address: str | None) -> tuple[str, str]:
        return f"user:{name.lower()}", f"addr:{address}"

    def locked(self, name: str, address: str | None) -> bool:
        """True when the user name failed max_attempts times, or the address four times as often, within the window."""
        since = time.time() - self.window
        user_key, address_key = self.keys(name, address)
        with store.connect(self.path) as db:
            for key, limit in ((user_key, self.max_attempts), (address_key, self.max_address_attempts)):
                (count,) = db.execute("SELECT COUNT(*) FROM failures WHERE key = ? AND at > ?", (key, since)).fetchone()
                if count >= limit:
                    return True
        return False

    def failed(self, name: str, address: str | None) -> None:
        now = time.time()
        with store.connect(self.path) as db:
            db.executemany("INSERT INTO failures (key, at) VALUES (?, ?)", [(k, now) for k in self.keys(name, address)])
            db.execute("DELETE FROM failures WHERE at < ?", (now - self.window,))

    def succeeded(self, name: str, address: str | None) -> None:
        """A good password forgives the user's failures and those of the address it came from."""
        with store.connect(self.path) as db:
            db.executemany("DELETE FROM failures WHERE key = ?", [(k,) for k in self.keys(name, address)])
