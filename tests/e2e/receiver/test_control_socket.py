"""gunicorn's control socket is per receiver instance: two receivers on one host never share it."""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

from tests.e2e.receiver.conftest import ReceiverProcess, Sinks, receiver_env


def answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        try:
            client.connect(str(path))
        except OSError:
            return False
        return True


def test_two_receivers_with_one_home_each_get_their_own_control_socket_and_off_means_none(
    postgres_uri: str, sinks: Sinks, tmp_path: Path
) -> None:
    # A short path: a Unix socket's path may not exceed 107 bytes, and pytest's tmp_path can be longer.
    home = Path(tempfile.mkdtemp(prefix="home-", dir="/tmp"))
    shared = {"HOME": str(home), "XDG_RUNTIME_DIR": ""}
    receivers = []
    try:
        for name, extra in (("one", {}), ("two", {}), ("off", {"RECEIVER_CONTROL_SOCKET": "off"})):
            env = receiver_env(postgres_uri, sinks, tmp_path, **shared, **extra)
            receivers.append(ReceiverProcess(env, tmp_path / f"{name}.log", int(env["RECEIVER_PORT"])).start())
        one, two, off = receivers
        sockets = sorted(p.name for p in (home / ".gunicorn").iterdir())
        assert sockets == sorted(f"monitoring-receiver-{r.port}.ctl" for r in (one, two))
        assert not (home / ".gunicorn" / f"monitoring-receiver-{off.port}.ctl").exists()
        assert not (home / ".gunicorn" / "gunicorn.ctl").exists()  # gunicorn's shared default is not used
        assert all(answers(home / ".gunicorn" / f"monitoring-receiver-{r.port}.ctl") for r in (one, two))
    finally:
        for receiver in receivers:
            receiver.stop()
        shutil.rmtree(home, ignore_errors=True)
