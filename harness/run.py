"""Running commands, with failures that say what failed."""

from __future__ import annotations

import fcntl
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


class HarnessError(RuntimeError):
    """A step of the harness failed; the message says which and why."""


def run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run *cmd*; on failure raise HarnessError carrying its output."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        output = (proc.stderr or proc.stdout).strip()
        raise HarnessError(f"{' '.join(cmd)} exited {proc.returncode}: {output}")
    return proc


def succeeds(cmd: Sequence[str]) -> bool:
    """True when *cmd* exits 0; its output is discarded."""
    return subprocess.run(list(cmd), capture_output=True, check=False).returncode == 0


def log(message: str) -> None:
    """Progress for the person watching; stdout stays free for JSON results."""
    print(f"[lab] {message}", file=sys.stderr, flush=True)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on *path* (made if missing) between harness processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def alive(pid: int, program: str) -> bool:
    """True while *pid* runs *program* and is no zombie (a reused pid is not ours)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return Path(cmdline.decode(errors="replace")).name == Path(program).name and state != "Z"
