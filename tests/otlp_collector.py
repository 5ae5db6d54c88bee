"""A loopback OTLP/HTTP trace receiver: decodes each ExportTraceServiceRequest protobuf it is sent."""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class ReceivedSpan:
    service_name: str
    name: str
    trace_id: str  # lowercase hex, as in a traceparent
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, object]


@dataclass
class OtlpCollector:
    """Serves ``POST /v1/traces`` as an OpenTelemetry collector does; ``url`` is the OTLP endpoint."""

    requests: int = 0
    content_types: list[str] = field(default_factory=list)
    _spans: list[ReceivedSpan] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> str:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                collector._record(request, self.headers.get("Content-Type", ""))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="otlp-collector", daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _record(self, request: ExportTraceServiceRequest, content_type: str) -> None:
        received: list[ReceivedSpan] = []
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes: dict[str, object] = {}
                    for a in span.attributes:
                        kind = a.value.WhichOneof("value")
                        attributes[a.key] = getattr(a.value, kind) if kind else None
                    received.append(
                        ReceivedSpan(
                            service_name=resource.get("service.name", ""),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes=attributes,
                        )
                    )
        with self._lock:
            self.requests += 1
            self.content_types.append(content_type)
            self._spans.extend(received)

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def wait_for(self, name: str, trace_id: str, timeout: float = 30.0) -> ReceivedSpan:
        """The first span called ``name`` in trace ``trace_id``, once it has arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for span in self.spans():
                if span.name == name and span.trace_id == trace_id:
                    return span
            time.sleep(0.05)
        seen = sorted({(s.service_name, s.name, s.trace_id) for s in self.spans()})
        raise AssertionError(f"no span {name!r} in trace {trace_id} after {timeout}s; received {seen}")
