"""The warm launcher's server (see _launch.py, the stage's side, for the whole of it): preload the
libraries, then fork a child per stage that becomes the stage's process and runs its script.

Started by the first stage as `python stages/_launch.py serve KEY`. Standard library only, and
_launch.py beside it: the `pipeline` package is never imported here, only afresh in each child.
"""

from __future__ import annotations

import array
import contextlib
import io
import json
import os
import runpy
import select
import signal
import socket
import struct
import sys
import threading
from typing import NoReturn

import _launch


def serve(key: str) -> None:
    """Preload, then fork a child per stage until IDLE_S seconds pass without one."""
    path = _launch.socket_path(key)
    idle_s = float(os.environ.get("PRUNING_WARM_IDLE_S", _launch.IDLE_S))
    lock = open(f"{path}.lock", "w")  # noqa: SIM115 (held for the server's life)
    try:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return None  # another server has this key
    for name in _launch.PRELOAD:
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
    header = _launch.HEADER
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, _launch.STREAMS)
    if len(fds) != _launch.STREAMS or len(data) < header.size:
        raise ValueError("malformed request")
    (size,) = header.unpack_from(data)
    body = data[header.size :]
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ValueError("truncated request")
        body += chunk
    return json.loads(body), fds


def _child(conn: socket.socket, request: dict, fds: list[int]) -> NoReturn:
    """Become the stage's process, run its script, and end."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for sig in _launch.FORWARDED:  # as in the stage's own process, not as the server inherited them
        default = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        signal.signal(sig, signal.SIG_IGN if int(sig) in request.get("ignored", ()) else default)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=os.isatty(1))
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True, errors="backslashreplace")
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ[_launch.CHILD_ENV] = str(conn.fileno())
    sys.argv = list(request["argv"])
    sys.path[0] = os.path.dirname(request["script"])
    threading.Thread(target=_watch, args=(conn,), daemon=True).start()
    # The script's `from _launch import ...` (through _stage) gets this module, in sys.modules
    # already, whose handoff() sees CHILD_ENV; reply_to() here too, for a script that returns
    # instead of calling finish().
    _launch.reply_to(conn.fileno())
    _launch.finish(_launch.exit_status(lambda: runpy.run_path(request["script"], run_name="__main__")))


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
