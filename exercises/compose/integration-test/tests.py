"""The integration test: run once on the app's network, after the frontend is healthy.

It talks to each tier by its service name, as the containers do, and exits 0 only when every
check passed (standard library only).
"""
import json
import os
import sys
import urllib.request

FRONTEND = os.environ["FRONTEND_URL"]
API = os.environ["API_URL"]
DATABASE = os.environ["DATABASE_URL"]
NEW = "Hej världen"


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode("utf-8")


def post(url: str, text: str) -> int:
    request = urllib.request.Request(url, data=text.encode("utf-8"), method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def main() -> int:
    failed = []

    def check(what: str, ok: bool) -> None:
        print(f"{'ok' if ok else 'FAILED'}: {what}")
        if not ok:
            failed.append(what)

    stored = json.loads(get(DATABASE + "/greetings")[1])
    check("the database holds its seed greetings", len(stored) >= 5)
    listed = json.loads(get(API + "/api/greetings")[1])
    check("the API lists the database's greetings", listed == stored)
    status, page = get(FRONTEND)
    check("the frontend shows every greeting", status == 200
          and all(f"<li>{g}</li>" in page for g in listed))
    check("a greeting posted to the API is stored", post(API + "/api/greetings", NEW) == 201)
    check("the database has it", NEW in json.loads(get(DATABASE + "/greetings")[1]))
    check("the frontend shows it", f"<li>{NEW}</li>" in get(FRONTEND)[1])
    print(f"{6 - len(failed)} of 6 checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
