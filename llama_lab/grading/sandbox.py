"""The box a notebook's kernel runs in while it is graded: bubblewrap (`bwrap`), Linux's unprivileged sandbox.

A handed-in notebook is a stranger's code, run with the grader's permissions. Inside the box its kernel is
user 65534 (nobody) in namespaces of its own, and it sees:

- read-write, one folder made for this notebook: its own copy of the notebook (not the folder it was handed in
  with, which holds the classmates' notebooks), the kernel's sockets and the grader's files for its parts;
- read-only, what the kernel needs: the system (/usr, /lib*, /bin, a few files of /etc), this Python with its
  packages, the kit (llama_lab/ and data/). Nothing else: not the home directories, not the other submissions,
  not the grades file; an empty /tmp;
- no network: its own network namespace, so the kernel talks to the grader over unix sockets in its folder
  (Jupyter's "ipc" transport) rather than TCP;
- its own process namespace: it can neither see nor signal the grader (`os.getppid()` is the box's init, which
  ignores it), and whatever it starts, even a `setsid` double fork, dies with it: the grader kills bwrap, bwrap's
  init dies with it (`--die-with-parent`), and the kernel ends every process left in a namespace whose init died.

Example: wrap(["python", "-c", "print(1)"], folder, folder / "notebook", {}) gives
    ["/usr/bin/bwrap", "--unshare-all", "--die-with-parent", ..., "--", "python", "-c", "print(1)"]
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Dict, Unicode

NOBODY = 65534
INSTALL = "install it with `sudo apt-get install bubblewrap` (Debian, Ubuntu; `dnf install bubblewrap` on Fedora)"
OPT_OUT = "or, for notebooks you wrote yourself only, grade without it: --no-sandbox"
# the files of /etc a Python kernel reads (the dynamic loader, fonts, time zone, user names); not the rest,
# which holds the machine's secrets (ssh keys, shadow passwords) that the box's user could otherwise read
ETC = ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "fonts", "passwd", "group",
       "nsswitch.conf", "alternatives", "mime.types", "matplotlibrc"]
SYSTEM = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]


class SandboxError(RuntimeError):
    """bwrap is missing, or cannot make a sandbox on this machine."""


@functools.lru_cache(maxsize=1)
def bwrap() -> str:
    """The path of a bwrap that works here; raises SandboxError saying what to do otherwise."""
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxError(f"the grader runs each notebook in a bubblewrap sandbox and `bwrap` is not installed: "
                           f"{INSTALL}; {OPT_OUT}")
    probe = subprocess.run([path, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
                            "--dev", "/dev", "--uid", str(NOBODY), "--gid", str(NOBODY), "true"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        said = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else f"exit status {probe.returncode}"
        raise SandboxError(f"{path} cannot make a sandbox here ({said}): it needs unprivileged user namespaces "
                           "(sysctl kernel.unprivileged_userns_clone=1; inside a container, run it with "
                           f"--security-opt seccomp=unconfined or as a VM); {OPT_OUT}")
    return path


def wrap(command: list[str], folder: Path, workdir: Path, env: dict[str, str]) -> list[str]:
    """`command` run inside a box whose only writable folder is `folder`, starting in `workdir` (inside it),
    with exactly the environment `env` plus HOME and the caches pointed at the box's empty /tmp."""
    args = [bwrap(), "--unshare-all", "--die-with-parent", "--new-session", "--uid", str(NOBODY), "--gid",
            str(NOBODY), "--hostname", "grading", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in SYSTEM:
        if os.path.islink(path):  # /bin -> usr/bin on merged-/usr systems
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for path in readable():
        args += ["--ro-bind", path, path]
    args += ["--bind", str(folder), str(folder), "--chdir", str(workdir), "--clearenv"]
    inside = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
              "LANG": "C.UTF-8", "TMPDIR": "/tmp", "PYTHONPATH": str(Path(package_dir()).parent), **env,
              "HOME": "/tmp", "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython",
              "JUPYTER_CONFIG_DIR": "/tmp/jupyter", "JUPYTER_DATA_DIR": "/tmp/jupyter",
              "JUPYTER_RUNTIME_DIR": "/tmp/jupyter/runtime", "XDG_CACHE_HOME": "/tmp/cache"}
    for name, value in inside.items():
        args += ["--setenv", name, value]
    return args + ["--", *command]


def package_dir() -> str:
    return str(Path(__file__).resolve().parent.parent)  # llama_lab/


def readable() -> list[str]:
    """What the kernel reads besides the system: this Python (the environment and the installation it was made
    from), its packages, and the kit: llama_lab/ and, next to it, data/ (the BPE assignment's tokenizer)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    paths |= {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    kit = package_dir()
    paths |= {kit, str(Path(kit).parent / "data")}
    present = sorted(os.path.realpath(p) for p in paths if p and os.path.isdir(p))
    # a folder inside another one already bound needs no bind of its own
    return [p for p in present if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in present)
            and not p.startswith(tuple(s + "/" for s in SYSTEM)) and p not in SYSTEM]


class SandboxedKernelManager(AsyncKernelManager):
    """A Jupyter kernel manager whose kernel (this Python's ipykernel) runs in the box, over unix sockets in
    `folder`: make it with `for_folder`."""

    folder = Unicode(help="the one folder the box may write to; holds the connection file and the sockets")
    workdir = Unicode(help="where the kernel starts, inside `folder`")
    inside_env = Dict(help="the kernel's environment (nothing else of the grader's reaches it)")

    @classmethod
    def for_folder(cls, folder: Path, workdir: Path, env: dict[str, str]) -> "SandboxedKernelManager":
        kernel = folder / "kernel"
        kernel.mkdir(exist_ok=True)
        return cls(kernel_name="python3", transport="ipc", ip=str(kernel / "ipc"),
                   connection_file=str(kernel / "connection.json"), folder=str(folder), workdir=str(workdir),
                   inside_env=env)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file, *(extra_arguments or [])]
        return wrap(kernel, Path(self.folder), Path(self.workdir), dict(self.inside_env))
