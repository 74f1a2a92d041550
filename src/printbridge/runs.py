"""Pages per run of a reprinted job.

CUPS keeps one job through every reprint (Restart-Job) and adds each run's pages
to its job-impressions-completed, so a job printed three times would show three
times its pages. When the app sends a job again it notes the count so far;
listings then show the last run's pages, the number of runs and the total."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from printbridge import store


class Runs:
    def __init__(self, path: Path) -> None:
        self.path = path
        with store.connect(path) as db:
            # created: CUPS's time-at-creation, so that a reused job id is a new job.
            db.execute(
                "CREATE TABLE IF NOT EXISTS reprints (job_id INTEGER NOT NULL, created INTEGER NOT NULL,"
                " pages_before INTEGER NOT NULL, reprints INTEGER NOT NULL, PRIMARY KEY (job_id, created))"
            )

    def reprinted(self, job: dict[str, Any]) -> None:
        """*job* (as listed before its reprint) starts another run."""
        with store.connect(self.path) as db:
            db.execute(
                "INSERT INTO reprints VALUES (?, ?, ?, 1) ON CONFLICT (job_id, created)"
                " DO UPDATE SET pages_before = excluded.pages_before, reprints = reprints + 1",
                (job["id"], job["created"] or 0, job["pages"]),
            )

    def annotate(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Give each job its last run's pages, its runs and the pages of all runs."""
        with store.connect(self.path) as db:
            known = {
                (job_id, created): (before, reprints)
                for job_id, created, before, reprints in db.execute(
                    "SELECT job_id, created, pages_before, reprints FROM reprints"
                )
            }
        for job in jobs:
            before, reprints = known.get((job["id"], job["created"] or 0), (0, 0))
            job["pages_total"] = job["pages"]
            job["pages"] = max(job["pages"] - before, 0)
            job["runs"] = reprints + 1
        return jobs
