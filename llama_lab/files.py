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
def replacing(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """A temporary name beside `path` to write to; once written it is flushed to disk and renamed onto `path`.

    At every moment `path` is the old file (or none) or the whole new one: os.replace swaps the file in one step,
    and fsync first makes sure that what it swaps in is on the disk. A failed write leaves no temporary behind.
    With overwrite=False the new file takes the name only if no file has it: one that came there while this one
    was written stays as it is, and FileExistsError says so (a hard link names the new file, or fails because the
    name is taken, in one step).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _link_new(tmp: Path, path: Path) -> None:
    """Give the file `tmp` the name `path` too, unless a file has it already (then FileExistsError)."""
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links (FAT, some network shares): look, then rename
        if not path.exists():
            os.replace(tmp, path)
            return
    raise FileExistsError(f"{path} appeared while the new file was written, and was left as it is")


# The plan of a set of files switching together (replace_together), in the folder they switch into.
SWITCH = ".llama_lab.switch-together.json"
STAGING = ".llama_lab.staging."


def _switch_step(what: str) -> None:
    """Called after each step of replace_together that leaves something on disk. It does nothing: the tests make
    it raise there, to show that a stop at any step leaves the old set of files or the new one."""


def fsync(path: str | os.PathLike) -> None:
    """Make a file's contents, or a folder's entries (a rename, a removal), reach the disk before going on."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def usual_permissions(path: Path, folder: bool) -> None:
    """Give `path` the permissions the user's files get (the umask's): mkdtemp makes private folders (0700) and
    some writers private files (0600), which colleagues on a shared machine could not read."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if folder else 0o666) & ~umask)


def remove_leftovers(folder: Path, owner_of) -> None:
    """Remove the folders in `folder` that a process now ended left behind: owner_of(name) is the id of the process
    that made the folder `name`, or None for a name that is not such a folder. A folder of this process, or of a
    process still running (another may be writing right now), is left alone."""
    for candidate in folder.iterdir() if folder.is_dir() else ():
        pid = owner_of(candidate.name)
        if pid is None or pid == os.getpid() or not candidate.is_dir():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(candidate, ignore_errors=True)
        except PermissionError:  # another user's process, alive
            pass


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
            fsync(staging / name)
            _switch_step(f"wrote {name}")
        for folder in {staging / name for name in files}:
            fsync(folder.parent)
        for folder in [p for p in staging.rglob("*") if p.is_dir()]:
            usual_permissions(folder, folder=True)
        (staging / SWITCH).write_text(json.dumps({"from": staging.name, "files": files}, indent=1))
        fsync(staging / SWITCH)
    except BaseException:  # an error, or Ctrl-C: nothing was moved, the old set is whole
        shutil.rmtree(staging, ignore_errors=True)
        raise
    os.replace(staging / SWITCH, root / SWITCH)  # the switch: from here on the new set is the one
    fsync(root)
    _switch_step("committed")
    finish_replacing(root)


def finish_replacing(root: str | os.PathLike) -> None:
    """Complete a replace_together into `root` that was stopped after its switch (killed, a power cut), and remove
    what one stopped before it left behind; nothing is written when there is neither."""
    root = Path(root)
    plan_file = root / SWITCH
    if not plan_file.is_file():
        remove_leftovers(root, _staging_owner)
        return
    try:
        plan = json.loads(plan_file.read_text())
        names, staging = [Path(name) for name in plan["files"]], root / plan["from"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{plan_file}: not a plan the kit wrote ({error}): remove it and write the files again")
    if not plan["from"].startswith(STAGING) or any(n.is_absolute() or ".." in n.parts for n in names):
        raise ValueError(f"{plan_file}: not a plan the kit wrote: remove it and write the files again")
    move_by_plan(root, plan_file, staging, names, remove=[], step=_switch_step)
    shutil.rmtree(staging, ignore_errors=True)


def move_by_plan(root: Path, plan_file: Path, staging: Path, names: list, remove: list, step) -> None:
    """Carry out a switch whose plan, `plan_file` in `root`, has been committed: move each of `names` (paths under
    both folders) from `staging` into `root`, remove each of `remove` from `root`, flush the folders to disk, then
    delete the plan. Killed at any point, a second run finishes the same switch (a file moved already is skipped):
    the second half of replace_together's switch, and of save_model's (llama_lab.checkpoint). step(what) is
    called after each move ("moved NAME") and each removal ("removed NAME")."""
    for name in names:
        if (staging / name).exists():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, root / name)
            step(f"moved {name}")
    for name in remove:
        (root / name).unlink(missing_ok=True)
        step(f"removed {name}")
    for folder in {(root / name).parent for name in names} | {root}:
        fsync(folder)
    plan_file.unlink()
    fsync(root)


def _staging_owner(name: str) -> int | None:
    """The id of the process whose replace_together made the staging folder `name`; None if it is not one."""
    pid = name.removeprefix(STAGING).split(".")[0] if name.startswith(STAGING) else ""
    return int(pid) if pid.isdigit() else None
