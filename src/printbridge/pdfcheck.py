"""Open an uploaded PDF with pikepdf and write a sanitised copy, in a process of its own.

uploads.py runs this as a child per upload (python3 -m printbridge.pdfcheck
MAX_PAGES FD) with the upload as stdin, the final file as FD, and limits on memory
and CPU: a hostile or huge PDF can crash or exhaust only the child, and the
web app's workers never load qpdf (they stay small on a Pi Zero 2 W). The
verdict is one line of JSON on stdout."""

from __future__ import annotations

import errno
import json
import os
import resource
import sys
from typing import Any

import pikepdf

# Keys that carry scripts, automatic actions or attached files; a print job needs none of them.
ACTIVE_KEYS = ("/OpenAction", "/AA", "/JS", "/JavaScript", "/EmbeddedFiles", "/EF", "/XFA")
# Link actions that only navigate are harmless; every other action (JavaScript, Launch,
# SubmitForm, ImportData, GoToE, ...) is removed.
SAFE_ACTIONS = ("/GoTo", "/URI")
# What one check may use: a print job's PDF needs far less.
MEMORY = 768 * 1024 * 1024
CPU_SECONDS = 30


def check_and_rewrite(max_pages: int, output_fd: int) -> dict[str, Any]:
    """Refuse what cannot be printed safely; otherwise write the sanitised copy to *output_fd*."""
    try:
        with pikepdf.open(sys.stdin.buffer) as pdf:
            if pdf.is_encrypted:
                return {"error": "encrypted"}
            pages = len(pdf.pages)
            if pages == 0:
                return {"error": "no_pages"}
            if pages > max_pages:
                return {"error": "too_many_pages", "pages": pages}
            removed = sanitise(pdf)
            with os.fdopen(output_fd, "wb") as out:
                pdf.save(out)
    except pikepdf.PasswordError:
        return {"error": "encrypted"}
    except pikepdf.PdfError:
        return {"error": "damaged"}
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            return {"error": "disk_full"}
        raise
    return {"pages": pages, "removed": removed}


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


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    print(json.dumps(check_and_rewrite(int(sys.argv[1]), int(sys.argv[2]))))
