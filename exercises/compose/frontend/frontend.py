"""The frontend: on port 8080, an HTML page listing the greetings the API at API_URL gives.

GET / answers the page, GET /health answers 200 only while the API is healthy. Standard
library only.
"""
import html
import json
import os
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = 8080
API_URL = os.environ.get("API_URL", "http://api:8092")


def api(path: str) -> object:
    with urllib.request.urlopen(API_URL + path, timeout=5) as response:
        return json.load(response)


class Handler(BaseHTTPRequestHandler):
    def answer(self, status: int, text: str, kind: str = "text/html") -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        try:
            if self.path == "/health":
                api("/health")
                self.answer(200, "ok\n", "text/plain")
            elif self.path == "/":
                items = "".join(f"<li>{html.escape(str(g))}</li>" for g in api("/api/greetings"))
                self.answer(200, f"<!doctype html><title>Greetings</title><h1>Greetings</h1>"
                                 f"<ul>{items}</ul>\n")
            else:
                self.answer(404, f"no {html.escape(self.path)} here\n", "text/plain")
        except OSError as err:
            self.answer(502, f"the API at {API_URL} does not answer: {err}\n", "text/plain")

    def log_message(self, format: str, *args: object) -> None:
        if "/health" not in str(args[:1]):
            print("frontend:", format % args, flush=True)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    print(f"frontend listening on {PORT}, API at {API_URL}", flush=True)
    server.serve_forever()
