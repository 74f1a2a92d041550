"""Uploaded documents: checked by content, sanitised with pikepdf (in a child), kept briefly in the spool folder.

The client's file name is only ever a title; files are named by random tokens,
are 0600, and are deleted after printing or after upload_ttl_minutes."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

MAGIC = b"%PDF-"
CHUNK = 1024 * 1024
TOKEN = re.compile(r"^[0-9a-f]{32}$")
# Where the child finds this package, whatever the parent's sys.path was made of.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
# Wall-clock bound on one check; the child also limits its own memory and CPU time.
CHECK_TIMEOUT = 60
REFUSALS = {
    "encrypted": "“{title}” is protected with a password. Remove the protection and try again.",
    "no_pages": "“{title}” has no pages.",
    "too_many_pages": "“{title}” has {pages} pages; at most {max_pages} can be printed at once.",
    "damaged": "“{title}” is damaged and cannot be read as a PDF.",
}
log = logging.getLogger(__name__)
FULL = "The server's upload space is full. Nothing was stored; jobs already queued are not affected. Try again later."


class UploadError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Upload:
    token: str
    title: str
    pages: int
    notices: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def path_for(spool_dir: Path, token: str) -> Path:
    if not TOKEN.match(token):
        raise UploadError("No such upload.", 404)
    return spool_dir / f"{token}.pdf"


def title_from(filename: str | None) -> str:
    """A display name only: the last path component, without control characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:120] or "document.pdf"


def disk_full(error: OSError) -> bool:
    return error.errno in (errno.ENOSPC, errno.EDQUOT)


def create(path: Path) -> IO[bytes]:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "wb")


def store(stream: IO[bytes], filename: str | None, spool_dir: Path, max_mb: int, max_pages: int) -> Upload:
    """Save, check and sanitise one upload; raise UploadError with a message for the user."""
    title = title_from(filename)
    token = secrets.token_hex(16)
    raw = spool_dir / f"{token}.upload"
    final = path_for(spool_dir, token)
    try:
        receive(stream, raw, title, max_mb * 1024 * 1024)
        with raw.open("rb") as handle:
            if handle.read(len(MAGIC)) != MAGIC:
                raise UploadError(f"“{title}” is not a PDF file. Save it as PDF and upload it again.", 415)
        pages, removed = check_and_rewrite(raw, final, title, max_pages)
    except OSError as error:
        final.unlink(missing_ok=True)
        if disk_full(error):
            raise UploadError(FULL, 507) from None
        raise
    except UploadError:
        final.unlink(missing_ok=True)
        raise
    finally:
        raw.unlink(missing_ok=True)
    notices = ["Active content (scripts, automatic actions or attached files) was removed."] if removed else []
    return Upload(token, title, pages, notices)


def receive(stream: IO[bytes], raw: Path, title: str, limit: int) -> None:
    size = 0
    with create(raw) as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise UploadError(f"“{title}” is larger than {limit // (1024 * 1024)} MB.", 413)
            out.write(chunk)
    if size == 0:
        raise UploadError(f"“{title}” is empty.")


def check_and_rewrite(raw: Path, final: Path, title: str, max_pages: int) -> tuple[int, int]:
    """Have printbridge.pdfcheck open the upload, refuse what cannot be printed safely and write a sanitised copy."""
    with raw.open("rb") as source, create(final) as out:
        try:
            child = subprocess.run(
                [sys.executable, "-m", "printbridge.pdfcheck", str(max_pages), str(out.fileno())],
                stdin=source,
                capture_output=True,
                pass_fds=(out.fileno(),),
                timeout=CHECK_TIMEOUT,
                check=False,
                env=os.environ | {"PYTHONPATH": str(PACKAGE_ROOT)},
            )
        except subprocess.TimeoutExpired:
            raise UploadError(
                f"“{title}” could not be checked: it needs more memory or time than a print job may.", 422
            ) from None
    verdict = json.loads(child.stdout or "{}") if child.returncode == 0 else {"error": "failed"}
    error = verdict.get("error")
    if error is None:
        return verdict["pages"], verdict["removed"]
    if error == "disk_full":
        raise OSError(errno.ENOSPC, "no space left while writing the checked copy")
    if error == "failed":
        # Killed by its limits (a PDF that needs more memory or time than a print job should).
        log.warning("PDF check of an upload failed (exit %s): %s", child.returncode, child.stderr.decode()[-500:])
        raise UploadError(f"“{title}” could not be checked: it needs more memory or time than a print job may.", 422)
    raise UploadError(
        REFUSALS[error].format(title=title, max_pages=max_pages, **verdict), 413 if "pages" in verdict else 400
    )


def expire(spool_dir: Path, ttl_minutes: int) -> None:
    """Delete uploads older than the time to live (and leftovers of interrupted uploads)."""
    cutoff = time.time() - ttl_minutes * 60
    for path in spool_dir.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass  # another worker was faster


def discard(spool_dir: Path, token: str) -> None:
    path_for(spool_dir, token).unlink(missing_ok=True)
