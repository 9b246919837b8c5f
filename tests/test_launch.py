"""The warm launcher (stages/_launch.py and _launch_server.py): a stage handed to a preloaded
server behaves as the same stage run in a process of its own (arguments, directory, environment,
streams, exit status, signals), and runs in its own process where the launcher is off."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import _launch as launch  # stages/ is on sys.path (conftest.py)
import pytest

ROOT = Path(__file__).resolve().parent.parent

# The script under test: reports whether torch was already imported when it started (it is in a
# warm child, preloaded by the server), then does what its arguments say.
SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {stages!r})
    from _launch import handoff, run
    handoff()
    import atexit, os, signal, time
    warm = "torch" in sys.modules

    def main():
        print("warm" if warm else "cold", os.getcwd(), os.environ.get("DVC_STAGE"), *sys.argv[1:], flush=True)
        action = sys.argv[1]
        if action == "exit":
            sys.exit(int(sys.argv[2]))
        if action == "raise":
            raise RuntimeError("boom")
        if action == "stdin":
            print("read", sys.stdin.read().strip())
        if action == "atexit":
            atexit.register(lambda: open(sys.argv[2], "w").write("ran"))
        if action == "sleep":
            try:  # the pid is written inside: a signal sent as soon as it is read is still caught here
                open(sys.argv[2], "w").write(str(os.getpid()))
                time.sleep(60)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(7)

    run(main)
    """
)


@pytest.fixture
def stage(tmp_path):
    script = tmp_path / "stage.py"
    script.write_text(SCRIPT.format(stages=str(ROOT / "stages")))
    # A server of this test's own (the key includes the environment), gone soon after the test.
    env = {
        **os.environ,
        "DVC_ROOT": str(tmp_path),
        "TEST_SERVER": uuid.uuid4().hex,
        "PRUNING_WARM_IDLE_S": "20",
        "DVC_STAGE": "s1",
    }
    env.pop("PRUNING_WARM", None)
    yield script, env
    path = launch.socket_path(launch.server_key(env))
    for pid in _server_pids(path):
        os.kill(pid, signal.SIGTERM)


def _server_pids(path: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"launch.py serve {path.name.split('-')[-1][:-5]}"], capture_output=True)
    return [int(p) for p in out.stdout.split()]


def start(script: Path, env: dict, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=120, **kwargs
    )


def ignoring_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def heeding_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def warm_up(script: Path, env: dict) -> None:
    """The first stage runs cold and starts the server; wait until it listens. It starts with
    SIGINT ignored (a background job's), which the server inherits: no stage may inherit it from there."""
    first = start(script, env, "noop", preexec_fn=ignoring_sigint)
    assert first.stdout.startswith("cold"), first.stdout + first.stderr
    path = launch.socket_path(launch.server_key(env))
    deadline = time.time() + 90
    while not path.exists():
        assert time.time() < deadline, "the warm server did not start"
        time.sleep(0.2)


def test_eligibility():
    base = {"DVC_ROOT": "/repo"}
    assert launch.eligible(base) == (sys.platform == "linux")
    assert not launch.eligible({})  # outside DVC
    assert not launch.eligible({**base, "PRUNING_WARM": "0"})
    assert not launch.eligible({**base, "LOCAL_RANK": "0"})  # torchrun


def test_server_key_ignores_per_stage_variables_only():
    env = {"DVC_ROOT": "/a", "DVC_STAGE": "train@emp-0.7-0", "PATH": "/bin", "PRUNING_TIMINGS": "/t"}
    same = {**env, "DVC_ROOT": "/b", "DVC_STAGE": "full@0", "PRUNING_TIMINGS": "/u"}
    assert launch.server_key(env) == launch.server_key(same)
    assert launch.server_key(env) != launch.server_key({**env, "PATH": "/usr/bin"})
    assert launch.server_key(env) != launch.server_key({**env, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_a_warm_stage_behaves_as_its_own_process(stage, tmp_path):
    script, env = stage
    warm_up(script, env)
    work = tmp_path / "work"
    work.mkdir()
    done = start(script, {**env, "DVC_STAGE": "s2"}, "exit", "3", cwd=work)
    assert done.returncode == 3
    assert done.stdout.split() == ["warm", str(work), "s2", "exit", "3"]  # the stage's cwd, env, argv
    failed = start(script, env, "raise")
    assert failed.returncode == 1 and "RuntimeError: boom" in failed.stderr  # the traceback, on its stderr
    piped = start(script, env, "stdin", input="hello\n")
    assert piped.returncode == 0 and "read hello" in piped.stdout
    marker = tmp_path / "atexit.txt"
    assert start(script, env, "atexit", str(marker)).returncode == 0
    assert marker.read_text() == "ran"  # exit handlers run although teardown is skipped


@pytest.mark.slow
def test_signals_reach_the_warm_child(stage, tmp_path):
    script, env = stage
    warm_up(script, env)
    pid_file = tmp_path / "pid"
    command = [sys.executable, str(script), "sleep", str(pid_file)]
    # a stage started from a terminal, SIGINT heeded, whatever the test runner's disposition
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True, preexec_fn=heeding_sigint)
    while not pid_file.exists() or not pid_file.read_text():
        time.sleep(0.1)
    assert int(pid_file.read_text()) != proc.pid  # the work runs in the server's child
    proc.send_signal(signal.SIGINT)  # Ctrl-C, or DVC stopping the stage
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 7 and "interrupted" in out

    pid_file.unlink()
    proc = subprocess.Popen([sys.executable, str(script), "sleep", str(pid_file)], env=env, stdout=subprocess.DEVNULL)
    while not pid_file.exists() or not pid_file.read_text():
        time.sleep(0.1)
    child = int(pid_file.read_text())
    proc.kill()  # the stage's process dies without a word: its child must not run on
    proc.wait()
    deadline = time.time() + 10
    while _alive(child):
        assert time.time() < deadline, "the warm child outlived its stage process"
        time.sleep(0.1)


def test_a_signal_before_the_request_leaves_is_passed_on_after_it(monkeypatch):
    """The window between installing the handlers and sending the request, hit on purpose: a
    Ctrl-C there must neither end the stage's process nor be lost, but reach the child once it runs."""
    ours, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    send = socket.send_fds

    def signalled_then_sent(sock, buffers, fds):
        os.kill(os.getpid(), signal.SIGINT)  # handled here, before the request is out
        return send(sock, buffers, fds)

    monkeypatch.setattr(launch.socket, "send_fds", signalled_then_sent)
    for stream, mode in (("stdin", "r"), ("stdout", "w"), ("stderr", "w")):  # real files, as a stage has
        monkeypatch.setattr(sys, stream, open(os.devnull, mode))  # noqa: SIM115 (closed with the test's process)
    got = {}

    def serve():
        got["request"], fds, _, _ = socket.recv_fds(server, 1 << 20, 3)
        for fd in fds:
            os.close(fd)
        got["signal"] = server.recv(1)  # what the server passes to its child
        server.sendall(b"exit 7\n")
        server.close()

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    # A stage started from a terminal heeds Ctrl-C, whatever this test runner's disposition is
    # (a background job's ignores it); a lost signal fails here within 30 s instead of hanging.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for end in (ours, server):
        end.settimeout(30)
    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert launch._run_remote(ours, "stage.py") == 7  # the child's status, no KeyboardInterrupt
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        thread.join(timeout=30)
        ours.close()
    assert b'"script": "stage.py"' in got["request"] and got["signal"] == bytes([signal.SIGINT])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_off_runs_in_its_own_process(stage):
    script, env = stage
    for off in ({**env, "PRUNING_WARM": "0"}, {k: v for k, v in env.items() if k != "DVC_ROOT"}):
        done = start(script, off, "exit", "4")
        assert done.returncode == 4 and done.stdout.startswith("cold")
    path = launch.socket_path(launch.server_key(env))
    assert not path.exists()  # and no server was started
