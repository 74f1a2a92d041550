"""Uploaded documents: checked by content, sanitised with pikepdf, kept briefly in the spool folder.

The client's file name is only ever a title; files are named by random tokens,
are 0600, and are deleted after printing or after upload_ttl_minutes."""

from __future__ import annotations

import errno
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

import pikepdf

MAGIC = b"%PDF-"
CHUNK = 1024 * 1024
TOKEN = re.compile(r"^[0-9a-f]{32}$")
# Keys that carry scripts, automatic actions or attached files; a print job needs none of them.
ACTIVE_KEYS = ("/OpenAction", "/AA", "/JS", "/JavaScript", "/EmbeddedFiles", "/EF", "/XFA")
# Link actions that only navigate are harmless; every other action (JavaScript, Launch,
# SubmitForm, ImportData, GoToE, ...) is removed.
SAFE_ACTIONS = ("/GoTo", "/URI")
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
    """Open with pikepdf, refuse what cannot be printed safely, write a sanitised copy."""
    try:
        with pikepdf.open(raw) as pdf:
            if pdf.is_encrypted:
                raise UploadError(f"“{title}” is protected with a password. Remove the protection and try again.")
            pages = len(pdf.pages)
            if pages == 0:
                raise UploadError(f"“{title}” has no pages.")
            if pages > max_pages:
                raise UploadError(f"“{title}” has {pages} pages; at most {max_pages} can be printed at once.", 413)
            removed = sanitise(pdf)
            with create(final) as out:
                pdf.save(out)
    except pikepdf.PasswordError:
        raise UploadError(f"“{title}” is protected with a password. Remove the protection and try again.") from None
    except pikepdf.PdfError:
        raise UploadError(f"“{title}” is damaged and cannot be read as a PDF.") from None
    return pages, removed


def sanitise(pdf: pikepdf.Pdf) -> int:
    """Remove scripts, automatic actions and embedded files everywhere; return how many were removed."""
    removed = 0
    for obj in pdf.objects:
        removed += clean(obj)
    return removed


def clean(obj: object) -> int:
    """Clean one object and the direct (not indirect) objects inside it; indirect ones get their own turn."""
    removed = 0
    if isinstance(obj, pikepdf.Array):
        for item in obj:
            if isinstance(item, pikepdf.Array | pikepdf.Dictionary) and not item.is_indirect:
                removed += clean(item)
    elif isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
        for key in ACTIVE_KEYS:
            if key in obj:
                del obj[key]
                removed += 1
        action = obj.get("/A")
        if isinstance(action, pikepdf.Dictionary) and str(action.get("/S", "")) not in SAFE_ACTIONS:
            del obj["/A"]
            removed += 1
        for key in list(obj.keys()):
            value = obj[key]
            if isinstance(value, pikepdf.Array | pikepdf.Dictionary) and not value.is_indirect:
                removed += clean(value)
    return removed


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
