"""A warm interpreter for the study's stages: one DVC stage per cell without paying the imports each time.

Every stage is its own process, started by DVC (so that each cell reruns alone when its inputs
change), and importing torch, MLflow and matplotlib takes a few seconds before any work: about
as long as a small cell's training. So the first stage of a `dvc repro` starts, beside its own
work, a server that imports those libraries once (third-party code only, never this project's)
and waits on a Unix socket. Each later stage process hands its command over: the server forks a
child, which takes on the stage's working directory, environment, arguments and standard
streams (passed as file descriptors), runs the script as `__main__`, and reports its exit status,
which the stage process exits with. Signals sent to the stage process (Ctrl-C, DVC stopping a
stage) reach the child; a child whose stage process dies is stopped. The project's code is
imported afresh in every child, so a code change takes effect at the next stage.

A server belongs to one interpreter, one environment (DVC's per-stage variables aside) and one
installation of the preloaded libraries (their files' sizes and times); anything else gets a
server of its own. It exits after IDLE_S seconds without a stage. Off where fork is unsafe or
unavailable (anything but Linux), under torchrun, outside DVC (DVC_ROOT unset), and with
PRUNING_WARM=0: the stage then runs in its own process as before.

Standard library only: this module runs before anything heavy is imported.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import runpy
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

PRELOAD = (
    "numpy",
    "torch",
    "torch.nn.functional",
    "torch._dynamo",  # what torch.optim imports when the first optimizer is made (2.5 s here)
    "yaml",
    "tqdm",
    "sklearn.linear_model",
    "mlflow",
    "mlflow.tracking",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.pytorch",
    "matplotlib.pyplot",
    # The NLU stages' language models, where the NLU extra is installed (skipped where it is not).
    "transformers",
    "transformers.models.bert.modeling_bert",
)
IDLE_S = 120.0  # PRUNING_WARM_IDLE_S overrides it
SWITCH_ENV = "PRUNING_WARM"  # 0: every stage in a process of its own
CHILD_ENV = "PRUNING_WARM_CHILD"  # in the forked child: the descriptor its exit status goes to
START_ENV = "PRUNING_STAGE_STARTED"  # when the stage process began (pipeline/core/timing.py reads it)
# Variables that differ from stage to stage, or only describe a stage: not part of a server's identity.
PER_STAGE = ("DVC_", "PRUNING_", "PWD", "OLDPWD", "_", "SHLVL")
_STREAMS = 3  # stdin, stdout, stderr
_HEADER = struct.Struct("!I")
_reply_fd: int | None = None  # in a warm child: where finish() reports the exit status


def eligible(env: os._Environ | dict = os.environ) -> bool:
    return (
        sys.platform == "linux"
        and env.get(SWITCH_ENV, "1") != "0"
        and bool(env.get("DVC_ROOT"))
        and not any(k in env for k in ("LOCAL_RANK", "TORCHELASTIC_RUN_ID"))
    )


def server_key(env: os._Environ | dict = os.environ) -> str:
    """What a server must share with a stage to run it: the interpreter, the environment less
    its per-stage variables, the preloaded libraries' installation, and this file."""
    stamps = []
    for name in sorted({m.split(".")[0] for m in PRELOAD}):
        spec = importlib.util.find_spec(name)  # finds a top-level package without importing it
        if spec is not None and spec.origin:
            st = os.stat(spec.origin)
            stamps.append((name, spec.origin, st.st_size, st.st_mtime_ns))
    here = Path(__file__).read_bytes()
    stable_env = sorted((k, v) for k, v in env.items() if not k.startswith(PER_STAGE) or k == "PRUNING_WARM_PRELOAD")
    blob = json.dumps([sys.executable, sys.version, stable_env, stamps, hashlib.sha256(here).hexdigest()])
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def socket_path(key: str) -> Path:
    return Path(tempfile.gettempdir()) / f"pruning-warm-{os.getuid()}-{key}.sock"


# --- the stage's side ------------------------------------------------------------------------


def handoff(script: str | None = None) -> None:
    """Called first thing by a stage script: run it in a warm child if a server is up (and exit
    with its status), else start a server for the stages after this one and return, to run here."""
    global _reply_fd
    if CHILD_ENV in os.environ:  # this is the child: run the stage
        _reply_fd = int(os.environ.pop(CHILD_ENV))
        return
    if not eligible():
        return
    key = server_key()
    path = socket_path(key)
    script = os.path.abspath(script or sys.argv[0])
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(path))
    except OSError:
        conn.close()
        _start_server(key)
        return
    code = _run_remote(conn, script)
    _flush()
    os._exit(code)


def run(main: Callable[[], object]) -> NoReturn:
    """Run a stage's `main` and end the process: exit status 0, SystemExit's, or 1 (with the
    traceback) for an uncaught exception, as Python would."""
    finish(_status(main))


def finish(code: int) -> NoReturn:
    """End the stage process now: flush, join its threads, run its exit handlers, report the status
    to the stage process in a warm child, and exit without the interpreter's teardown, which
    frees every module one by one (about 1.7 s for torch, MLflow and matplotlib)."""
    main_thread = threading.main_thread()
    for thread in threading.enumerate():
        if thread is not main_thread and not thread.daemon and thread is not threading.current_thread():
            thread.join()
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    _flush()
    if _reply_fd is not None:
        with contextlib.suppress(OSError):
            os.write(_reply_fd, f"exit {code}\n".encode())
    os._exit(code)


def _status(main: Callable[[], object]) -> int:
    try:
        main()
        return 0
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0
        print(stop.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("KeyboardInterrupt", file=sys.stderr)
        return 128 + signal.SIGINT
    except BaseException:
        sys.excepthook(*sys.exc_info())
        return 1


def _start_server(key: str) -> None:
    with contextlib.suppress(OSError):
        subprocess.Popen(
            [sys.executable, __file__, "serve", key],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not in DVC's process group: Ctrl-C stops stages, not the server
            close_fds=True,
        )


def _started() -> float:
    try:
        from pipeline.core.timing import process_start  # standard library only

        return process_start()
    except ImportError:
        return time.time()


def _run_remote(conn: socket.socket, script: str) -> int:
    """Send the command, forward signals, wait for the child's exit status."""
    request = {
        "script": script,
        "argv": [script, *sys.argv[1:]],
        "cwd": os.getcwd(),
        "env": {**os.environ, START_ENV: os.environ.get(START_ENV) or repr(_started())},
    }
    body = json.dumps(request).encode()
    fds = [sys.stdin.fileno(), sys.stdout.fileno(), sys.stderr.fileno()]
    sys.stdout.flush()
    sys.stderr.flush()
    socket.send_fds(conn, [_HEADER.pack(len(body)) + body], fds)
    forwarded = []

    def forward(signum, _frame):
        forwarded.append(signum)
        with contextlib.suppress(OSError):
            conn.sendall(bytes([signum]))

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    received = b""
    while True:
        chunk = conn.recv(64)
        if not chunk:
            break
        received += chunk
    if received.startswith(b"exit "):
        return int(received.split()[1])
    if forwarded:
        return 128 + forwarded[-1]
    print("warm launcher: the stage's process ended without an exit status (see its output above)", file=sys.stderr)
    return 1


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


# --- the server's side -----------------------------------------------------------------------


def serve(key: str) -> None:
    """Preload, then fork a child per stage until IDLE_S seconds pass without one."""
    path = socket_path(key)
    idle_s = float(os.environ.get("PRUNING_WARM_IDLE_S", IDLE_S))
    lock = open(f"{path}.lock", "w")  # noqa: SIM115 (held for the server's life)
    try:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return None  # another server has this key
    for name in PRELOAD:
        with contextlib.suppress(Exception):
            if name == "matplotlib.pyplot":
                import matplotlib

                matplotlib.use("Agg")  # as pipeline/study/plots.py does: stages draw to files
            __import__(name)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a dead server's socket
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)  # the socket: this user only
    try:
        listener.bind(str(path))
    finally:
        os.umask(old_mask)
    listener.listen(16)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    server_pid = os.getpid()
    try:
        while True:
            ready, _, _ = select.select([listener], [], [], idle_s)
            if not ready:
                return None
            conn, _ = listener.accept()
            if not _same_user(conn):
                conn.close()
                continue
            try:
                request, fds = _receive(conn)
            except (OSError, ValueError):
                conn.close()
                continue
            if os.fork() == 0:
                listener.close()
                lock.close()
                _child(conn, request, fds)  # does not return
            conn.close()
            for fd in fds:
                os.close(fd)
    finally:
        if os.getpid() == server_pid:
            listener.close()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _same_user(conn: socket.socket) -> bool:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, _STREAMS)
    if len(fds) != _STREAMS or len(data) < _HEADER.size:
        raise ValueError("malformed request")
    (size,) = _HEADER.unpack_from(data)
    body = data[_HEADER.size :]
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ValueError("truncated request")
        body += chunk
    return json.loads(body), fds


def _child(conn: socket.socket, request: dict, fds: list[int]) -> NoReturn:
    """Become the stage's process, run its script, and end."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=os.isatty(1))
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True, errors="backslashreplace")
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ[CHILD_ENV] = str(conn.fileno())
    sys.argv = list(request["argv"])
    sys.path[0] = os.path.dirname(request["script"])
    threading.Thread(target=_watch, args=(conn,), daemon=True).start()
    global _reply_fd
    _reply_fd = conn.fileno()  # for a script that returns instead of calling finish()
    finish(_status(lambda: runpy.run_path(request["script"], run_name="__main__")))


def _watch(conn: socket.socket) -> None:
    """Signals forwarded by the stage process, raised here; its end (EOF) stops this process."""
    while True:
        try:
            data = conn.recv(16)
        except OSError:
            data = b""
        if not data:
            os.kill(os.getpid(), signal.SIGTERM)
            return
        for signum in array.array("B", data):
            os.kill(os.getpid(), signum)


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    serve(sys.argv[2])
