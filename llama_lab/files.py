"""Replacing a file so that no crash leaves half of it: the one way the kit writes a file over another.

    with replacing(Path("grades.json")) as tmp:
        tmp.write_text(report)
"""

from __future__ import annotations

import contextlib
import os
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
