"""How the kit's commands answer a mistake: one line on stderr, `error: ...`, and exit status 2, no traceback.

    with one_line_errors(ValueError, CheckpointError, writing="give another --out"):
        run_the_command()

A traceback would bury what a learner needs to read: what was given, and what to do.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import sys
from typing import Iterator, NoReturn


def fail(message: str) -> NoReturn:
    """End the command with `message` as its one line."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


class OneLineParser(argparse.ArgumentParser):
    """argparse's parser, whose mistakes read as the kit's others do: one line, `error: ...` with a pointer to
    --help, and status 2 (argparse's own prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def os_error_line(error: OSError, writing: str = "") -> str:
    """An OSError said in one line: the path, what the system said, and what to do (`writing`: the way out when a
    folder cannot be written to, such as "give another --out")."""
    where = f"{error.filename}: " if error.filename else ""
    what = error.strerror or str(error)
    if error.errno == errno.ENOSPC or error.errno == errno.EFBIG:
        advice = "free some space (or raise the file size limit) and run it again"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "make it writable, or " + (writing or "choose another folder")
    elif error.errno == errno.ENOENT:
        advice = "check the path" + (f", or {writing}" if writing else "")
    elif error.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        advice = "a file stands where a folder is needed, or the other way round: " + (writing or "check the path")
    else:
        advice = writing
    return f"{where}{what}" + (f": {advice}" if advice else "")


@contextlib.contextmanager
def one_line_errors(*expected: type[BaseException], writing: str = "") -> Iterator[None]:
    """Inside, an `expected` error, an OSError (said by os_error_line), or a SystemExit carrying a message ends
    the command with its one line and status 2. Anything else is a bug in the kit and keeps its traceback."""
    try:
        yield
    except SystemExit as stop:
        if isinstance(stop.code, str):
            fail(stop.code.removeprefix("error: "))
        raise
    except OSError as error:  # the kit's own (FileNotFoundError("no such file: ...")) carry no errno
        fail(os_error_line(error, writing) if error.errno else " ".join(str(error).split("\n")))
    except expected as error:
        fail(" ".join(str(error).split("\n")) or type(error).__name__)
