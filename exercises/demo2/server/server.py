"""Demo 2's web server: on port 8082, answers one translation fetched from the db at DB_URL."""
import json
import os
import random
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = 8082
DB_URL = os.environ.get("DB_URL", "http://db:8081")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        try:
            with urllib.request.urlopen(DB_URL, timeout=5) as response:
                translations = json.load(response)
            status, body = 200, random.choice(translations)
        except OSError as err:
            status, body = 502, f"the database at {DB_URL} does not answer: {err}"
        data = (body + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        print("server:", format % args, flush=True)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    print(f"server listening on {PORT}, database at {DB_URL}", flush=True)
    server.serve_forever()
