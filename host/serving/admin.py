"""The admin listener (control plane, Python): ``/metrics`` (Prometheus text),
``/healthz`` (200 when every worker slot has a live process) and ``/status``
(JSON: workers, tenants, reload results)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from edgehost.errors import ConfigError
from edgehost.serving import metrics


class AdminServer:
    def __init__(self, addr: tuple[str, int], master):
        master_ref = master

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body = metrics.render(master_ref.stats, master_ref.workers_up())
                    self._send(200, metrics.CONTENT_TYPE, body)
                elif path == "/healthz":
                    up = master_ref.workers_up()
                    ok = len(up) == master_ref.cfg.workers
                    self._send(200 if ok else 503, "text/plain", "ok\n" if ok else "degraded\n")
                elif path == "/status":
                    data = {
                        "port": master_ref.port,
                        "workers": {str(k): v for k, v in master_ref.workers_up().items()},
                        "tenants": [str(d) for d in master_ref.tenant_dirs],
                        "reloads": master_ref.reload_results[-20:],
                    }
                    if master_ref.coordinator is not None:  # per tenant: version, checks, errors
                        data["versions"] = master_ref.coordinator.status_dict()
                    self._send(200, "application/json", json.dumps(data) + "\n")
                else:
                    self._send(404, "text/plain", "not found\n")

            def _send(self, code: int, ctype: str, body: str) -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        try:
            self.httpd = ThreadingHTTPServer(addr, Handler)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {addr[0]}:{addr[1]} for --admin: "
                              f"{exc.strerror}") from None
        self.httpd.daemon_threads = True
        self.address = self.httpd.server_address[:2]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                       name="admin")
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
