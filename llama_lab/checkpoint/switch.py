"""Switching a checkpoint folder's files, so that no crash leaves half the old checkpoint and half the new.

A save writes into a temporary folder beside the checkpoint and then switches it in (_save_folder): killed at any
point, the folder holds the old checkpoint or the new one, and a save removes only files the kit wrote there.
Switching a folder's files in, and reading them, happen one process at a time (_locked): two saves to one folder
end with the whole checkpoint of the one that switched last, and a load reads one checkpoint, not parts of two.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from ..files import fsync, move_by_plan, remove_leftovers, usual_permissions
from .read import RECORD, CheckpointError, _plain_name, _read_json, _record

try:
    import fcntl
except ImportError:  # Windows: saves to one folder are not serialised there
    fcntl = None

# A save's plan while it moves its files from its temporary folder into the checkpoint's: see _finish_switch.
SWITCH = ".llama_lab.switch.json"


def after_save_step(what: str) -> None:
    """Called after each step of a save that leaves something on disk ("wrote params.json", "moved ...",
    "committed", ...). It does nothing: the tests replace it (switch.after_save_step = ...) to end the process
    there, and show that a save killed at any step leaves the old checkpoint or the new one."""


def _temporary_prefix(path: Path) -> str:
    """How the name of a save's temporary folder beside `path` starts: with this process's id in it."""
    return f".{path.name}.llama-lab-save.{os.getpid()}."


def _temporary_pid(path: Path, name: str) -> int | None:
    """The id of the process whose save to `path` made the temporary folder `name`; None if it is not one."""
    match = re.fullmatch(re.escape(f".{path.name}.llama-lab-save.") + r"(\d+)\.\w+", name)
    return int(match[1]) if match else None


def _lock_file(path: Path) -> Path:
    """The lock of the checkpoint folder `path`: a file beside it, so that the checkpoint holds only its own."""
    return path.parent / f".{path.name}.llama-lab.lock"


@contextlib.contextmanager
def _locked(path: Path, saving: bool = True) -> Iterator[None]:
    """Hold the lock of the checkpoint folder `path` (flock on _lock_file) for the body, waiting for it if another
    process holds it, with a note on stderr saying so.

    The kernel lets a lock go when its holder ends, even killed, so a lock is never left held. The file is removed
    by its holder before it lets go; one who waited on a file that has been removed by then holds nothing, and
    locks the file now at that name. Without `saving` (a load), a folder where the user may not create the lock
    file is read without it: no save of theirs can be under way there.
    """
    lock, fd = _lock_file(path), None
    while fcntl is not None and fd is None:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError:
            if saving:
                raise
            break
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 20, 0).decode(errors="replace").strip() or "another process"
                print(f"waiting for process {holder} to finish saving to or loading from {path}", file=sys.stderr,
                      flush=True)
                fcntl.flock(fd, fcntl.LOCK_EX)
            if not os.path.exists(lock) or not os.path.samestat(os.fstat(fd), os.stat(lock)):
                os.close(fd)  # its holder removed it: lock the new one
                fd = None
        except BaseException:
            os.close(fd)
            raise
    try:
        if fd is not None:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())  # for a note of whoever waits
        yield
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                lock.unlink()
            os.close(fd)


def _finish_switch(path: Path) -> None:
    """Finish a save that was moving its files into `path` when it stopped (killed, a power cut).

    A save writes its plan (files to move in, files of its own earlier save to remove) into the folder, by an
    atomic rename, only once every new file is on disk in its temporary folder; from then on it can always be
    finished. load_model and save_model finish it before reading or writing the folder, so that no one ever
    reads half the old checkpoint and half the new.
    """
    plan_file = path / SWITCH
    if not plan_file.is_file():
        return
    plan = _read_json(plan_file)
    files, remove = plan.get("files"), plan.get("remove")
    if (_temporary_pid(path, str(plan.get("from"))) is None or not isinstance(files, list)
            or not isinstance(remove, list) or not all(_plain_name(name) for name in files + remove)):
        raise CheckpointError(f"{plan_file}: not a plan save_model wrote: remove the file, then load again")
    temporary = path.parent / plan["from"]
    try:
        move_by_plan(path, plan_file, temporary, files, remove, step=after_save_step)
    except OSError as error:
        raise CheckpointError(f"{path}: a save to this folder was interrupted, and finishing it failed ({error}). "
                              "Load it once where you may write to the folder.") from error
    after_save_step("switched")
    shutil.rmtree(temporary, ignore_errors=True)


def _save_folder(path: Path, fmt: str, write) -> Path:
    """Run write(folder) on a temporary folder beside `path`, then put its files in place of the earlier save's.

    Killed at any point, `path` holds the old checkpoint or the new one. Every file is written and flushed in the
    temporary folder first. A new folder then arrives by one rename. Into an existing one, the files move by a
    plan (_finish_switch), which also removes the files the kit wrote there before and the new save does not
    have: those its record lists, and nothing else, so a user's files in the folder stay. The switch runs under
    the folder's lock (_locked): a save that comes to switch while another does waits, then replaces the other's
    checkpoint whole.
    """
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} is a file: save_model writes a folder. Choose another path.")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):  # a save killed after its plan still has files in its temporary folder: finish it first
        if path.exists():
            _finish_switch(path)
        remove_leftovers(path.parent, lambda name: _temporary_pid(path, name))  # saves killed before their switch
    temporary = Path(tempfile.mkdtemp(prefix=_temporary_prefix(path), dir=path.parent))
    with contextlib.ExitStack() as switching:
        try:
            files = _write_temporary(temporary, fmt, write)
            switching.enter_context(_locked(path))  # from here to the end, no other save or load of the folder
            if not path.exists():
                os.rename(temporary, path)
                after_save_step("renamed")
                fsync(path.parent)
                return path
            _finish_switch(path)  # another save's, killed after its plan while this one was writing
            record = _record(path)
            earlier = set(record["files"]) if record else set()
            plan = {"from": temporary.name, "files": files + [RECORD], "remove": sorted(earlier - set(files))}
            (temporary / SWITCH).write_text(json.dumps(plan, indent=2))
            fsync(temporary / SWITCH)
            after_save_step("planned")
        except BaseException:  # an error, or Ctrl-C: nothing was moved yet, the old checkpoint is whole
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        os.rename(temporary / SWITCH, path / SWITCH)  # from here on the save is done, even if killed: _finish_switch
        fsync(path)
        after_save_step("committed")
        _finish_switch(path)
    return path


def _write_temporary(temporary: Path, fmt: str, write) -> list[str]:
    """Run write(temporary), add the kit's record of the files it wrote, flush every one to disk; returns their
    names (the record's aside)."""
    write(temporary)
    files = sorted(p.name for p in temporary.iterdir())
    (temporary / RECORD).write_text(json.dumps({"format": fmt, "files": files}, indent=2))
    # mkdtemp makes a private directory (0700) and safetensors writes 0600: give the checkpoint the
    # permissions any other file of the user's gets, so that colleagues on a shared machine can read it
    usual_permissions(temporary, folder=True)
    for file in temporary.iterdir():
        usual_permissions(file, folder=False)
        fsync(file)
        after_save_step(f"wrote {file.name}")
    fsync(temporary)
    return files
