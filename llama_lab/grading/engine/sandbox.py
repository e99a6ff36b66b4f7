"""The box a notebook's kernel runs in while it is graded: bubblewrap (`bwrap`), Linux's unprivileged sandbox.

A handed-in notebook is a stranger's code, run on the grader's machine. Inside the box its kernel runs in
namespaces of its own, as a user with no privileges on the host, and it sees:

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

Who it runs as on the host. A grader started by an ordinary user makes the box with a user namespace: inside,
the kernel is user 65534 (nobody); on the host it is that user, who can do no more than before. A grader started
as root would map the box's user to root that way, so as root bwrap makes the namespaces itself (no user
namespace) and the kernel is started through `setpriv` as the host user FIRST_BOX_UID + slot, an id no account
uses (one per notebook graded at the same time), with no capabilities and no way to gain any (no_new_privs);
only bwrap's own small init, which starts the kernel and reaps what ends, stays root's. The kernel's folder is
handed to that user; the rest of the host is only what any user may read.

Limits per process in the box, set with `prlimit` just before the kernel starts, and inherited by everything
it starts: at most `processes` processes and threads (PROCESS_LIMIT, 128: the kernel itself uses 11, a
fork bomb stops there: fork raises BlockingIOError), counted for the box alone (as root: for its own user;
otherwise: for its own user namespace, Linux 5.14 and later); at most `memory` bytes of address space each
(MEMORY_LIMIT, 4 GiB: a kernel that ran a tiny model peaked at 1.4): a larger allocation raises MemoryError
(or torch's "can't allocate memory") in the cell that asked, and the kernel carries on; no core files. These are
limits per process, not one for the whole box: its memory is bounded by processes x memory, not by memory.

Example: wrap(["python", "-c", "print(1)"], folder, folder / "notebook", {}) gives, run by an ordinary user,
    ["/usr/bin/bwrap", "--unshare-all", "--die-with-parent", ..., "--", "/usr/bin/prlimit", "--nproc=128",
     "--as=4294967296", "--core=0", "--", "python", "-c", "print(1)"]
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
from traitlets import Dict, Int, Unicode

NOBODY = 65534
FIRST_BOX_UID = 2_100_000_000  # as root: slot k's kernel is this + k on the host; no account uses these ids
PROCESS_LIMIT = 128  # processes and threads in one box
MEMORY_LIMIT = 4 * 2**30  # bytes of address space per process in the box
INSTALL = "install it with `sudo apt-get install bubblewrap` (Debian, Ubuntu; `dnf install bubblewrap` on Fedora)"
OPT_OUT = "or, for notebooks you wrote yourself only, grade without it: --no-sandbox"
# the files of /etc a Python kernel reads (the dynamic loader, fonts, time zone, user names); not the rest,
# which holds the machine's secrets (ssh keys, shadow passwords) that the box's user could otherwise read
ETC = ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "fonts", "passwd", "group",
       "nsswitch.conf", "alternatives", "mime.types", "matplotlibrc"]
SYSTEM = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]


class SandboxError(RuntimeError):
    """bwrap is missing, or cannot make a sandbox on this machine."""


def as_root() -> bool:
    """Whether the grader runs as root, and so starts the box's kernel as an unprivileged host user itself."""
    return os.geteuid() == 0


def box_user(slot: int = 0) -> int | None:
    """The host user the box of `slot` (0 .. jobs - 1) runs as when the grader is root; None otherwise (the box
    then runs as the grader's own user, in a user namespace)."""
    return FIRST_BOX_UID + slot if as_root() else None


@functools.lru_cache(maxsize=1)
def tools() -> dict[str, str]:
    """The paths of bwrap, prlimit and (as root) setpriv, checked by making a box that runs `true` with the
    limits and the user it will have; raises SandboxError saying what to do otherwise."""
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxError(f"the grader runs each notebook in a bubblewrap sandbox and `bwrap` is not installed: "
                           f"{INSTALL}; {OPT_OUT}")
    found = {"bwrap": path}
    for tool in ["prlimit"] + (["setpriv"] if as_root() else []):
        if shutil.which(tool) is None:
            raise SandboxError(f"the grader limits each notebook's processes and memory with `{tool}`, which is "
                               "not installed: install util-linux (`sudo apt-get install util-linux`); " + OPT_OUT)
        found[tool] = shutil.which(tool)
    probe = subprocess.run(_namespaces(found) + ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--",
                                                 *_inside(found, box_user(0), PROCESS_LIMIT, MEMORY_LIMIT), "true"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        said = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else f"exit status {probe.returncode}"
        needs = ("namespaces (inside a container, run it with --security-opt seccomp=unconfined and "
                 "--cap-add SYS_ADMIN, or use a VM)" if as_root() else "unprivileged user namespaces (sysctl "
                 "kernel.unprivileged_userns_clone=1; inside a container, run it with --security-opt "
                 "seccomp=unconfined or as a VM)")
        raise SandboxError(f"{path} cannot make a sandbox here ({said}): it needs {needs}; {OPT_OUT}")
    return found


def bwrap() -> str:
    """The path of a bwrap that works here; raises SandboxError saying what to do otherwise."""
    return tools()["bwrap"]


def _namespaces(found: dict[str, str]) -> list[str]:
    """bwrap with namespaces of its own: as root without a user namespace (which would map the box's user to
    root), else with one in which the kernel is nobody."""
    if as_root():
        return [found["bwrap"], "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                "--unshare-cgroup-try", "--die-with-parent"]
    return [found["bwrap"], "--unshare-all", "--die-with-parent", "--uid", str(NOBODY), "--gid", str(NOBODY)]


def _inside(found: dict[str, str], uid: int | None, processes: int, memory: int) -> list[str]:
    """What runs in the box before the command: the drop to `uid` (as root), then the limits, soft and hard."""
    drop = [found["setpriv"], f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--"] if uid is not None else []
    return drop + [found["prlimit"], f"--nproc={processes}", f"--as={memory}", "--core=0", "--"]


def wrap(command: list[str], folder: Path, workdir: Path, env: dict[str, str], processes: int = PROCESS_LIMIT,
         memory: int = MEMORY_LIMIT, slot: int = 0) -> list[str]:
    """`command` run inside a box whose only writable folder is `folder`, starting in `workdir` (inside it),
    with exactly the environment `env` plus HOME and the caches pointed at the box's empty /tmp, at most
    `processes` processes and `memory` bytes of address space per process; `slot` picks the host user as root."""
    found = tools()
    args = _namespaces(found) + ["--new-session", "--hostname", "grading", "--proc", "/proc", "--dev", "/dev",
                                 "--tmpfs", "/tmp"]
    for path in SYSTEM:
        if os.path.islink(path):  # /bin -> usr/bin on merged-/usr systems
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    # the folders above the binds, made by bwrap; open to all (as root bwrap would make them root's alone)
    for parent in sorted({str(p) for path in readable() + [str(folder)] for p in Path(path).parents} - {"/"}):
        if not any(parent == s or parent.startswith(s + "/") for s in SYSTEM):
            args += ["--perms", "0755", "--dir", parent]
    for path in readable():
        args += ["--ro-bind", path, path]
    args += ["--bind", str(folder), str(folder), "--chdir", str(workdir), "--clearenv"]
    inside = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
              "LANG": "C.UTF-8", "TMPDIR": "/tmp", "PYTHONPATH": str(Path(package_dir()).parent), **env,
              "HOME": "/tmp", "USER": "student", "LOGNAME": "student", "MPLCONFIGDIR": "/tmp/matplotlib",
              "IPYTHONDIR": "/tmp/ipython", "JUPYTER_CONFIG_DIR": "/tmp/jupyter", "JUPYTER_DATA_DIR": "/tmp/jupyter",
              "JUPYTER_RUNTIME_DIR": "/tmp/jupyter/runtime", "XDG_CACHE_HOME": "/tmp/cache"}
    for name, value in inside.items():
        args += ["--setenv", name, value]
    return args + ["--", *_inside(found, box_user(slot), processes, memory), *command]


def hand_over(folder: Path, uid: int | None) -> None:
    """Give the box's user the folders it writes (as root; nothing to do otherwise, the box is the grader's user).

    `folder` itself and kernel/ (where the grader writes the connection file) stay root's, readable by the box
    only, so the box cannot swap them for links; notebook/, parts/ and sockets/ and what is in them become its.
    """
    if uid is None:
        return
    os.chown(folder, 0, uid)
    os.chmod(folder, 0o710)
    os.chown(folder / "kernel", 0, uid)
    os.chmod(folder / "kernel", 0o750)
    for name in ("notebook", "parts", "sockets"):
        mine = folder / name
        os.chown(mine, uid, uid, follow_symlinks=False)
        os.chmod(mine, 0o700)
        with os.scandir(mine) as entries:
            for entry in entries:
                os.chown(entry.path, uid, uid, follow_symlinks=False)


def package_dir() -> str:
    return str(Path(__file__).resolve().parent.parent.parent)  # llama_lab/


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
    processes = Int(PROCESS_LIMIT, help="processes and threads the box may have")
    memory = Int(MEMORY_LIMIT, help="bytes of address space each process in the box may have")
    slot = Int(0, help="which of the boxes running at once this is (as root: which host user it runs as)")

    @classmethod
    def for_folder(cls, folder: Path, workdir: Path, env: dict[str, str], processes: int = PROCESS_LIMIT,
                   memory: int = MEMORY_LIMIT, slot: int = 0) -> "SandboxedKernelManager":
        for name in ("kernel", "sockets"):
            (folder / name).mkdir(exist_ok=True)
        hand_over(folder, box_user(slot))
        return cls(kernel_name="python3", transport="ipc", ip=str(folder / "sockets" / "ipc"),
                   connection_file=str(folder / "kernel" / "connection.json"), folder=str(folder),
                   workdir=str(workdir), inside_env=env, processes=processes, memory=memory, slot=slot)

    def write_connection_file(self, **kwargs) -> None:
        super().write_connection_file(**kwargs)
        uid = box_user(self.slot)
        if uid is not None:  # the file is the grader's (mode 600) in a folder the box cannot change: hand it over
            os.chown(self.connection_file, uid, uid)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file, *(extra_arguments or [])]
        return wrap(kernel, Path(self.folder), Path(self.workdir), dict(self.inside_env), self.processes,
                    self.memory, self.slot)
