"""What the host must offer the local stack: Prometheus, Alertmanager and node-exporter from Debian
(installed when run as root), and free ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Mapping

from ops.local.configuration import REPO
from ops.local.supervision import StackFailed

TOOLS_SCRIPT = REPO / "scripts" / "services" / "tools.sh"

# binary -> Debian package
TOOLS = {
    "prometheus": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "prometheus-node-exporter": "prometheus-node-exporter",
}


def find_tools(which: Callable[[str], str | None] = shutil.which) -> tuple[dict[str, str], list[str]]:
    """(binary -> path for those found, Debian packages of those missing)."""
    found = {binary: path for binary in TOOLS if (path := which(binary))}
    missing = sorted({package for binary, package in TOOLS.items() if binary not in found})
    return found, missing


def ensure_tools(
    which: Callable[[str], str | None] = shutil.which,
    *,
    can_install: bool,
    install: Callable[[], int],
) -> dict[str, str]:
    """The binaries' paths; installs the Debian packages first when allowed (root with apt-get)."""
    found, missing = find_tools(which)
    if missing and can_install:
        print(f"installing Debian packages: {' '.join(missing)} ...", flush=True)
        install()
        found, missing = find_tools(which)
    if missing:
        raise StackFailed(
            f"missing Debian packages: {' '.join(missing)}. Install them with\n"
            f"  sudo apt-get install {' '.join(missing)}\n"
            "or run `make services` as root (scripts/services/tools.sh installs them)."
        )
    return found


def install_tools() -> int:
    return subprocess.call(["bash", str(TOOLS_SCRIPT), "install"])


def can_install_tools() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None and TOOLS_SCRIPT.exists()


def busy_ports(wanted: Mapping[str, int]) -> dict[str, int]:
    """The ports in ``wanted`` that something already listens on (0 means any port: never busy)."""
    busy = {}
    for name, port in wanted.items():
        if port == 0:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                busy[name] = port
    return busy


def check_ports(wanted: Mapping[str, int]) -> None:
    busy = busy_ports(wanted)
    if busy:
        listed = ", ".join(f"{name} {port}" for name, port in busy.items())
        raise StackFailed(
            f"ports already in use: {listed}. Stop what listens there (after `apt-get install`, Debian starts "
            "its own prometheus, prometheus-alertmanager and prometheus-node-exporter services: "
            "`systemctl stop` them) or choose other ports: EXPORTER_PORT, RECEIVER_PORT, PROMETHEUS_PORT, "
            "ALERTMANAGER_PORT, --node-exporter-port, --platform-port (0: any free ports)."
        )
