"""The simulator's HTTP control endpoint (loopback): switch faults while a simulation runs.

- ``GET /faults``: the phase in force, the override (if any) and the effective faults
- ``PUT /faults``: set an override (a JSON object of ``Faults`` fields); 400 names a bad field
- ``DELETE /faults``: drop the override, the timeline is in force again
- ``GET /report``: the ground truth so far
- ``GET /health``
"""

from __future__ import annotations

import threading
from typing import Any

import msgspec
from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.serving import BaseWSGIServer, make_server

from simulator.profile import Faults
from simulator.runner import Simulation

control = Blueprint("control", __name__)


def create_control_app(simulation: Simulation) -> Flask:
    app = Flask(__name__)
    app.extensions["simulation"] = simulation
    app.register_blueprint(control)
    return app


def _simulation() -> Simulation:
    simulation: Simulation = current_app.extensions["simulation"]
    return simulation


@control.get("/health")
def health() -> ResponseReturnValue:
    return {"status": "ok"}


@control.get("/faults")
def get_faults() -> ResponseReturnValue:
    simulation = _simulation()
    phase, effective = simulation.current()
    override = simulation.switch.override()
    return {
        "phase": phase.name,
        "override": msgspec.to_builtins(override) if override else None,
        "effective": msgspec.to_builtins(effective),
    }


@control.put("/faults")
def put_faults() -> ResponseReturnValue:
    try:
        faults = msgspec.json.decode(request.get_data(), type=Faults)
    except msgspec.DecodeError as exc:
        return jsonify(error=f"invalid faults: {exc}"), 400
    _simulation().switch.set(faults)
    return {"override": msgspec.to_builtins(faults)}


@control.delete("/faults")
def delete_faults() -> ResponseReturnValue:
    _simulation().switch.set(None)
    return {"override": None}


@control.get("/report")
def report() -> ResponseReturnValue:
    body: dict[str, Any] = _simulation().truth.as_dict()
    return body


class ControlServer:
    """Serves the control app on 127.0.0.1 in a background thread; ``stop()`` shuts it down and joins."""

    def __init__(self, app: Flask, port: int = 0) -> None:
        self._server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="simulator-control", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
