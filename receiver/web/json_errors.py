"""The receiver's one shape of error answer: ``{"error": message}`` with a status and headers."""

from __future__ import annotations

from flask import Response, jsonify


def error_response(status: int, message: str, **headers: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    response.headers.update(headers)
    return response
