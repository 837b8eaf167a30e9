"""A simplecloud job server: real CPU work of one of three sizes over HTTP.

GET  /<job>      do the work (a chain of SHA-256 rounds) and say which node did it
GET  /health     200 while healthy, 503 after a crash was requested
POST /crash      answer, then exit with status 1 (for fault tests)
GET  /           what this server is

Standard library only, so the image builds offline from a bare Debian base.
"""
import hashlib
import json
import os
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROUNDS = {"light": 20_000, "medium": 200_000, "heavy": 2_000_000}
JOB = os.environ.get("JOB", "light")
NODE = os.environ.get("SIMPLECLOUD_NODE") or socket.gethostname()
PORT = int(os.environ.get("PORT", "8000"))


def work(rounds: int) -> str:
    digest = NODE.encode()
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()[:16]


class Handler(BaseHTTPRequestHandler):
    server_version = "simplecloud-job/1"
    crashing = False

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (http.server naming)
        path = self.path.split("?", 1)[0]
        if path == "/health":
            if Handler.crashing:
                return self._send(503, {"status": "crashing", "node": NODE})
            return self._send(200, {"status": "ok", "node": NODE, "job": JOB})
        if path == "/" + JOB or path.startswith("/" + JOB + "/"):
            start = time.perf_counter()
            result = work(ROUNDS[JOB])
            ms = round((time.perf_counter() - start) * 1000, 2)
            return self._send(200, {"job": JOB, "node": NODE, "rounds": ROUNDS[JOB],
                                    "ms": ms, "result": result})
        if path == "/":
            return self._send(200, {"job": JOB, "node": NODE, "paths": ["/" + JOB, "/health"]})
        return self._send(404, {"error": f"no such path {path}; try /{JOB}"})

    def do_POST(self):  # noqa: N802
        if self.path.split("?", 1)[0] == "/crash":
            Handler.crashing = True
            self._send(200, {"status": "crashing", "node": NODE})
            self.wfile.flush()
            threading.Timer(0.2, os._exit, args=(1,)).start()
            return None
        return self._send(404, {"error": "only POST /crash is accepted"})

    def log_message(self, fmt, *args):  # one short line per request on stdout
        print(f"{self.address_string()} {fmt % args}", flush=True)


def main() -> None:
    if JOB not in ROUNDS:
        raise SystemExit(f"JOB must be one of {sorted(ROUNDS)}, not {JOB!r}")
    ThreadingHTTPServer.daemon_threads = True
    # socketserver listens with a backlog of 5: a busy worker (0.25 CPU,
    # throttled for most of each period) then drops SYNs, and HAProxy sees a
    # failed connection where there is only a queue. Let the kernel queue them.
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    # As PID 1 a process ignores SIGTERM unless it handles it: stop cleanly.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"simplecloud job {JOB} on node {NODE} listening on :{PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
