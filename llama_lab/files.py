"""Replacing a file so that no crash leaves half of it: the one way the kit writes a file over another.

    with replacing(Path("grades.json")) as tmp:
        tmp.write_text(report)

and replacing several files at once, so that no crash leaves some old and some new (replace_together).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary name beside `path` to write to; once written it is flushed to disk and renamed onto `path`.

    At every moment `path` is the old file (or none) or the whole new one: os.replace swaps the file in one step,
    and fsync first makes sure that what it swaps in is on the disk. A failed write leaves no temporary behind.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# The plan of a set of files switching together (replace_together), in the folder they switch into.
SWITCH = ".llama_lab.switch-together.json"
STAGING = ".llama_lab.staging."


def _switch_step(what: str) -> None:
    """Called after each step of replace_together that leaves something on disk. It does nothing: the tests make
    it raise there, to show that a stop at any step leaves the old set of files or the new one."""


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_together(root: str | os.PathLike, build) -> None:
    """build(staging) writes a set of files into an empty folder, by the paths they are to have under `root`;
    then they replace root's files of those paths, all of them or none, whatever stops the process when.

    The new files are written and flushed inside a staging folder in `root` first. The switch is decided by one
    atomic rename, that of its plan (the files to move) into `root`; from then on finish_replacing can always
    complete it, and whoever reads the set calls finish_replacing first. So a reader sees the old set or the new
    one, never some of each. Files in `root` the set does not name are left alone.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    finish_replacing(root)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING}{os.getpid()}.", dir=root))
    try:
        build(staging)
        files = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
        for name in files:
            _fsync(staging / name)
            _switch_step(f"wrote {name}")
        for folder in {staging / name for name in files}:
            _fsync(folder.parent)
        umask = os.umask(0)  # mkdtemp's folder is private (0700): what it holds gets the user's usual permissions
        os.umask(umask)
        for folder in [p for p in staging.rglob("*") if p.is_dir()]:
            os.chmod(folder, 0o777 & ~umask)
        (staging / SWITCH).write_text(json.dumps({"from": staging.name, "files": files}, indent=1))
        _fsync(staging / SWITCH)
    except BaseException:  # an error, or Ctrl-C: nothing was moved, the old set is whole
        shutil.rmtree(staging, ignore_errors=True)
        raise
    os.replace(staging / SWITCH, root / SWITCH)  # the switch: from here on the new set is the one
    _fsync(root)
    _switch_step("committed")
    finish_replacing(root)


def finish_replacing(root: str | os.PathLike) -> None:
    """Complete a replace_together into `root` that was stopped after its switch (killed, a power cut), and remove
    what one stopped before it left behind; nothing is written when there is neither."""
    root = Path(root)
    plan_file = root / SWITCH
    if not plan_file.is_file():
        _remove_stale_staging(root)
        return
    try:
        plan = json.loads(plan_file.read_text())
        names, staging = [Path(name) for name in plan["files"]], root / plan["from"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{plan_file}: not a plan the kit wrote ({error}): remove it and write the files again")
    if not plan["from"].startswith(STAGING) or any(n.is_absolute() or ".." in n.parts for n in names):
        raise ValueError(f"{plan_file}: not a plan the kit wrote: remove it and write the files again")
    for name in names:
        if (staging / name).exists():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, root / name)
            _switch_step(f"moved {name}")
    for folder in {(root / name).parent for name in names} | {root}:
        _fsync(folder)
    plan_file.unlink()
    _fsync(root)
    shutil.rmtree(staging, ignore_errors=True)


def _remove_stale_staging(root: Path) -> None:
    """Remove the staging folders of replace_together runs stopped before their switch: those of processes that
    have ended (another process may be writing right now)."""
    for candidate in root.glob(f"{STAGING}*") if root.is_dir() else ():
        pid = candidate.name.removeprefix(STAGING).split(".")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(candidate, ignore_errors=True)
        except PermissionError:  # another user's process, alive
            pass
