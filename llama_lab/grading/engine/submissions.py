"""Reading what someone else placed, as a stranger's files: a handed-in notebook (read_submission), checked before
the grader trusts what it says (read_notebook, assignment_of, code_cells), and what a kernel saved as a part's
results (read_results). Each is read only if it is a regular file of at most a limit, opened without following
links and without waiting (read_plain_file): a link to the instructor's files or to /dev/zero, a pipe that never
ends or a file of gigabytes costs the grader nothing, and the grade says what the path is."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import nbformat

from .catalog import ASSIGNMENTS
from .grades import GradingError
from .report import shown

MAX_NOTEBOOK_BYTES = 20_000_000  # a handed-in notebook larger than this is not read (outputs of megabytes?)
READ_SECONDS = 30.0  # reading one handed-in notebook (a stalled network drive must not stop the grading)
RESULTS_LIMIT = 64 * 2**20  # bytes: a part's results are small tensors; anything bigger is not the grader's


def read_results(directory: int, name: str, limit: int = RESULTS_LIMIT) -> tuple[bytes | None, str | None]:
    """(contents, None) of the results file `name` in `directory`; (None, None) when there is none; (None, what
    is wrong) when it is not a plain file of at most `limit` bytes (see read_plain_file)."""
    try:
        return read_plain_file(name, limit, directory), None
    except FileNotFoundError:
        return None, None
    except NotPlainFile as problem:
        if problem.size is not None:
            return None, f"its results file is over {limit} bytes"
        return None, "its results file is not a plain file (a FIFO, a device, a folder?)"
    except OSError as error:
        return None, f"its results file could not be opened ({error.strerror}: a link?)"


class NotPlainFile(Exception):
    """read_plain_file found something other than a plain file of at most its limit: `mode` is what it found
    (os.stat's st_mode), or `size` the bytes it read before giving up."""

    def __init__(self, mode: int | None = None, size: int | None = None):
        super().__init__(f"not a plain file (mode {mode:o})" if mode is not None else f"{size} bytes or more")
        self.mode, self.size = mode, size


def read_plain_file(path: str | os.PathLike, limit: int, directory: int | None = None) -> bytes:
    """The bytes of a file someone else may have placed (a notebook handed in, what a kernel saved): `path`,
    inside the folder open as `directory` if given, read only if it is a regular file, and never more than
    `limit` bytes of it. It is opened without following a link (OSError ELOOP) and without waiting (a FIFO), so
    a link to /dev/zero or to the instructor's files, or a pipe that never ends, costs nothing. Raises
    FileNotFoundError when there is none, NotPlainFile for anything else found there."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=directory)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotPlainFile(mode=mode)
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise NotPlainFile(size=size)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_submission(path: Path) -> bytes:
    """The bytes of a handed-in notebook: a regular file of at most MAX_NOTEBOOK_BYTES, opened without following
    links (a student's link could point to the instructor's files, /dev/zero or a pipe that never ends), read
    within READ_SECONDS. Anything else raises GradingError saying what the path is, never what a link points to.
    """
    name = shown(path.name)
    try:
        info = os.lstat(path)
    except OSError as error:
        raise GradingError(f"{name} could not be read ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise GradingError(_not_a_file(name, path, info.st_mode))
    if info.st_size > MAX_NOTEBOOK_BYTES:
        raise GradingError(_too_large(name, info.st_size))
    outcome: list = []

    def read() -> None:
        try:
            outcome.append(read_plain_file(path, MAX_NOTEBOOK_BYTES))
        except NotPlainFile as problem:  # replaced since lstat, or grown
            outcome.append(GradingError(_too_large(name, problem.size) if problem.size is not None
                                        else _not_a_file(name, path, problem.mode)))
        except OSError as error:  # ELOOP: it became a link since lstat
            outcome.append(GradingError(f"{name} could not be read ({error.strerror})"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(READ_SECONDS)
    if not outcome:
        raise GradingError(f"{name} could not be read within {READ_SECONDS:g} s (a stalled network drive?): "
                           "copy it to a local folder and grade it there")
    if isinstance(outcome[0], GradingError):
        raise outcome[0]
    return outcome[0]


def _not_a_file(name: str, path: Path, mode: int) -> str:
    if stat.S_ISLNK(mode):
        if os.path.isdir(path):
            return (f"{name} is a symbolic link to a folder: the grader does not follow links; copy the notebooks "
                    "themselves in")
        return f"{name} is a symbolic link: hand in the notebook file itself (the grader does not follow links)"
    kind = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device", stat.S_IFBLK:
            "a block device", stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}.get(stat.S_IFMT(mode),
                                                                                   "not a regular file")
    return f"{name} is {kind}, not a notebook file: hand in the notebook file itself"


def _too_large(name: str, size: int) -> str:
    return (f"{name} is {size / 1e6:.1f} MB or more, larger than the {MAX_NOTEBOOK_BYTES / 1e6:g} MB a notebook "
            "may be: clear its outputs (Edit > Clear Outputs of All Cells), save it and hand it in again")


def assignment_of(nb, path: Path) -> str:
    """The assignment a notebook belongs to: its metadata says so; else its file name starts with the name."""
    name = nb.metadata.get("llama_lab", {}).get("assignment")  # a dict: read_notebook checked
    if name in ASSIGNMENTS:
        return name
    for known in ASSIGNMENTS:
        if path.stem.startswith(known) or path.stem.startswith(known[:2] + "_"):
            return known
    raise GradingError(f"{shown(path.name)} is not one of the assignments ({', '.join(ASSIGNMENTS)}): its "
                       "metadata has no llama_lab.assignment and its name does not start with an assignment's")


def read_notebook(path: Path, content: bytes):
    """The notebook in `content` (read_submission's), with the metadata the grader reads checked: nbformat
    accepts odd values that would otherwise stop the grader (`"llama_lab": "04_sampling"`, `"nbgrader": "yes"`)."""
    name = shown(path.name)
    try:
        nb = nbformat.reads(content.decode("utf-8"), as_version=4)
    except Exception as error:  # not UTF-8, not JSON, not a notebook
        raise GradingError(f"{name} could not be read as a notebook ({type(error).__name__}: {error})")
    if not isinstance(nb.get("metadata"), dict) or not isinstance(nb.get("cells"), list):
        raise GradingError(f"{name} is not a notebook: it needs an object `metadata` and a list `cells`")
    if not isinstance(nb.metadata.get("llama_lab", {}), dict):
        raise GradingError(f"{name}: its metadata `llama_lab` is {_kind(nb.metadata['llama_lab'])}, not an "
                           'object such as {"assignment": "04_sampling"}: fix the metadata, or remove it and '
                           "name the file after its assignment")
    return nb


def code_cells(nb, path: Path) -> list[int]:
    """The indices of the cells the kernel runs: code, not empty, not nbgrader's test cells."""
    indices = []
    for i, cell in enumerate(nb.cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        if not isinstance(cell.get("source"), str):
            raise GradingError(f"{shown(path.name)}: cell {i + 1}'s source is {_kind(cell.get('source'))}, not text: "
                               "open the notebook in Jupyter and save it again")
        metadata = cell.get("metadata", {})
        nbgrader = metadata.get("nbgrader", {}) if isinstance(metadata, dict) else metadata
        if not isinstance(nbgrader, dict):
            raise GradingError(f"{shown(path.name)}: cell {i + 1}'s metadata `nbgrader` is {_kind(nbgrader)}, not an "
                               'object such as {"grade": true, "solution": false}: was it edited by hand?')
        if cell.source.strip() and not _is_test_cell(cell):
            indices.append(i)
    return indices


def _kind(value) -> str:
    """'an int (42)', 'a str ('04_sampling')': what was found, for a message."""
    name, text = type(value).__name__, repr(value)
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name} ({text[:40] + ' ...' if len(text) > 40 else text})"


def _is_test_cell(cell) -> bool:
    """nbgrader's autograder tests: graded, not a solution. The package runs its own tests instead."""
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def cell_label(index: int, cell) -> str:
    """How the report names a notebook cell: 'cell 4 (`def top_k_filter(probs, k):`)'."""
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    return f"cell {index + 1} (`{first[:50]}{'...' if len(first) > 50 else ''}`)"
