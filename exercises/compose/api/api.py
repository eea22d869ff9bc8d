"""The API: on API_PORT, answers the database's greetings as JSON, and adds new ones.

GET /api/greetings lists them, POST /api/greetings adds one (the request's body), GET
/health answers 200 only while the database at DB_URL does. Standard library only.
"""
import json
import os
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("API_PORT", "8092"))
DB_URL = os.environ.get("DB_URL", "http://database:8091")


def database(path: str, body: bytes | None = None) -> tuple[int, object]:
    request = urllib.request.Request(DB_URL + path, data=body,
                                     method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)
    except OSError as err:
        return 502, f"the database at {DB_URL} does not answer: {err}"


class Handler(BaseHTTPRequestHandler):
    def answer(self, status: int, value: object) -> None:
        body = json.dumps(value, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        if self.path == "/health":
            status, said = database("/health")
            self.answer(200 if status == 200 else 503, said)
        elif self.path == "/api/greetings":
            self.answer(*database("/greetings"))
        else:
            self.answer(404, f"no {self.path} here")

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/api/greetings":
            self.answer(404, f"no {self.path} here")
            return
        self.answer(*database("/greetings", self.rfile.read(
            int(self.headers.get("Content-Length") or 0))))

    def log_message(self, format: str, *args: object) -> None:
        if "/health" not in str(args[:1]):
            print("api:", format % args, flush=True)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    print(f"api listening on {PORT}, database at {DB_URL}", flush=True)
    server.serve_forever()
