"""The folders notebooks are graded in: one per notebook, in the temporary folder (grading_folder), named
TEMP_PREFIX... and holding an OWNER file that names its grader, so that the folders a killed grader (SIGKILL, a
power cut) left behind are found and removed by the next one (remove_leftovers)."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from .submissions import NotPlainFile, read_plain_file

TEMP_PREFIX = "llama-lab-grade-"  # the grading folders in the temporary folder; each holds OWNER
OWNER = "owner"  # "PID START": the grader process the folder belongs to, and when it started


@contextlib.contextmanager
def grading_folder(name: str, content: bytes):
    """A new folder in which one notebook is graded, holding notebook/`name` (`content`) and an empty parts/;
    removed afterwards. Its name starts with TEMP_PREFIX and its file OWNER names this process, so that when
    the grader is killed before it can remove the folder, the next grader recognises it (remove_leftovers)."""
    folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    try:
        (folder / OWNER).write_text(_process_id(os.getpid()) or str(os.getpid()))
        (folder / "notebook").mkdir()
        (folder / "parts").mkdir()
        (folder / "notebook" / name).write_bytes(content)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_leftovers() -> list[Path]:
    """Remove the grading folders that graders killed before they could (SIGKILL, a power cut) left behind: only
    this user's folders named TEMP_PREFIX... in the temporary folder whose OWNER is a process that has ended.
    A folder without OWNER, or of a grader still running, is left alone. Returns the folders removed."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(TEMP_PREFIX + "*"):
        with contextlib.suppress(OSError, ValueError, IndexError, NotPlainFile):
            info = folder.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                continue
            owner = read_plain_file(folder / OWNER, 100).decode("ascii").strip()
            pid = int(owner.split()[0])
            if pid <= 0 or _process_id(pid) == owner or (" " not in owner and _alive(pid)):
                continue  # its grader still runs
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


def _process_id(pid: int) -> str | None:
    """'PID START', START being when the process started (Linux's /proc): a process that ended and a later one
    given the same pid differ; None where there is no /proc, or no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            after_name = f.read().rsplit(b")", 1)[1].split()
        return f"{pid} {int(after_name[19])}"  # field 22 of stat: the start time, in clock ticks after boot
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
