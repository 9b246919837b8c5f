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

Two files beside the stage scripts, outside the `pipeline` package: this one, the stage's side
(stages/_stage.py imports it; `python stages/_launch.py serve KEY` starts a server), and
_launch_server.py, the server's side.

Standard library only: this module runs before anything heavy is imported (the `pipeline`
package included: importing it imports torch).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import json
import os
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
FILES = (Path(__file__), Path(__file__).with_name("_launch_server.py"))  # the launcher's code
STREAMS = 3  # stdin, stdout, stderr
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # passed from a stage's process to its child
HEADER = struct.Struct("!I")  # a request's length, ahead of it
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
    its per-stage variables, the preloaded libraries' installation, and the launcher's files."""
    stamps = []
    for name in sorted({m.split(".")[0] for m in PRELOAD}):
        spec = importlib.util.find_spec(name)  # finds a top-level package without importing it
        if spec is not None and spec.origin:
            st = os.stat(spec.origin)
            stamps.append((name, spec.origin, st.st_size, st.st_mtime_ns))
    code = [hashlib.sha256(path.read_bytes()).hexdigest() for path in FILES]
    stable_env = sorted((k, v) for k, v in env.items() if not k.startswith(PER_STAGE) or k == "PRUNING_WARM_PRELOAD")
    blob = json.dumps([sys.executable, sys.version, stable_env, stamps, code])
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def socket_path(key: str) -> Path:
    return Path(tempfile.gettempdir()) / f"pruning-warm-{os.getuid()}-{key}.sock"


def reply_to(fd: int) -> None:
    """In a warm child: report the exit status to `fd`, the connection to the stage process."""
    global _reply_fd
    _reply_fd = fd


# --- the stage's side ------------------------------------------------------------------------


def handoff(script: str | None = None) -> None:
    """Called first thing by a stage script: run it in a warm child if a server is up (and exit
    with its status), else start a server for the stages after this one and return, to run here."""
    if CHILD_ENV in os.environ:  # this is the child: run the stage
        reply_to(int(os.environ.pop(CHILD_ENV)))
        return
    os.environ[START_ENV] = repr(_started())  # pipeline/core/timing.py's start mark for this stage
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
    finish(exit_status(main))


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


def exit_status(main: Callable[[], object]) -> int:
    """Run `main`; the exit status Python would end with."""
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
            [sys.executable, os.path.abspath(__file__), "serve", key],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not in DVC's process group: Ctrl-C stops stages, not the server
            close_fds=True,
        )


def _started() -> float:
    """When this process started, in epoch seconds (10 ms resolution on Linux; elsewhere: now)."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        started_ticks = int(fields[19])  # field 22 of proc(5), counted from the state (field 3)
        return time.time() - (uptime - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.time()


def _run_remote(conn: socket.socket, script: str) -> int:
    """Send the command, forward signals, wait for the child's exit status."""
    # A signal this process ignores (nohup, a background job of a script) stays ignored in the
    # child, and is not forwarded; the others act there as they would here, whatever the server
    # inherited when it started.
    ignored = [int(sig) for sig in FORWARDED if signal.getsignal(sig) == signal.SIG_IGN]
    request = {
        "script": script,
        "argv": [script, *sys.argv[1:]],
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "ignored": ignored,
    }
    body = json.dumps(request).encode()
    fds = [sys.stdin.fileno(), sys.stdout.fileno(), sys.stderr.fileno()]
    sys.stdout.flush()
    sys.stderr.flush()
    # The handlers are in place before the request goes out: a signal in between would otherwise end
    # this process by Python's default (KeyboardInterrupt) while the server's child ran on. Signals
    # that come before the request is sent wait, and are passed on right after it.
    forwarded: list[int] = []
    passed = [0, False]  # how many of `forwarded` went to the child; whether the request is out

    def pass_on() -> None:
        while passed[1] and passed[0] < len(forwarded):
            passed[0] += 1
            with contextlib.suppress(OSError):
                conn.sendall(bytes([forwarded[passed[0] - 1]]))

    def forward(signum, _frame):
        forwarded.append(signum)
        pass_on()

    for sig in FORWARDED:
        if int(sig) not in ignored:
            signal.signal(sig, forward)
    socket.send_fds(conn, [HEADER.pack(len(body)) + body], fds)
    passed[1] = True
    pass_on()
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


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    from _launch_server import serve  # the script's folder (stages/) is sys.path[0]

    serve(sys.argv[2])
