"""The database: greetings in SQLite on /data (a named volume), served over HTTP on 8091.

GET /greetings answers them as a JSON list, POST /greetings adds the request's body as one,
GET /health answers once the table is ready. The first start seeds the table from
/seed/greetings.txt (a read-only folder of the exercise). Standard library only.
"""
import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PORT = 8091
DATA = Path("/data/greetings.sqlite")
SEED = Path("/seed/greetings.txt")
LOCK = threading.Lock()


def connect() -> sqlite3.Connection:
    return sqlite3.connect(DATA, timeout=10)


def prepare() -> int:
    """Create the table, seed it when empty; the number of rows."""
    with LOCK, connect() as db:
        db.execute("CREATE TABLE IF NOT EXISTS greetings (id INTEGER PRIMARY KEY, text TEXT)")
        if db.execute("SELECT COUNT(*) FROM greetings").fetchone()[0] == 0:
            lines = [line.strip() for line in SEED.read_text(encoding="utf-8").splitlines()]
            db.executemany("INSERT INTO greetings (text) VALUES (?)",
                           [(line,) for line in lines if line and not line.startswith("#")])
        return int(db.execute("SELECT COUNT(*) FROM greetings").fetchone()[0])


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
            self.answer(200, "ok")
        elif self.path == "/greetings":
            with LOCK, connect() as db:
                rows = db.execute("SELECT text FROM greetings ORDER BY id").fetchall()
            self.answer(200, [text for (text,) in rows])
        else:
            self.answer(404, f"no {self.path} here")

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/greetings":
            self.answer(404, f"no {self.path} here")
            return
        text = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
        if not text.strip():
            self.answer(400, "an empty greeting")
            return
        with LOCK, connect() as db:
            db.execute("INSERT INTO greetings (text) VALUES (?)", (text.strip(),))
        self.answer(201, text.strip())

    def log_message(self, format: str, *args: object) -> None:  # quieter logs
        if "/health" not in str(args[:1]):
            print("database:", format % args, flush=True)


if __name__ == "__main__":
    rows = prepare()
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    print(f"database listening on {PORT}: {rows} greetings in {DATA}", flush=True)
    server.serve_forever()
