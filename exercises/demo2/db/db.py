"""Demo 2's tiny "database": serves the translations as JSON on port 8081 (standard library)."""
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from translations import TRANSLATIONS

PORT = 8081


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        body = json.dumps(TRANSLATIONS, ensure_ascii=False).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quieter logs
        print("db:", format % args, flush=True)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    print(f"db listening on {PORT}", flush=True)
    server.serve_forever()
