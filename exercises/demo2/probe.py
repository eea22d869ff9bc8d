"""Host-side checks of demo 2 (standard library only).

Usage:
  probe.py answers URL          URL answers 200 with one of db/translations.py's TRANSLATIONS
  probe.py unreachable URL      nothing answers at URL (the db is not published on the host)
"""
import runpy
import sys
import urllib.error
import urllib.request
from pathlib import Path


def answers(url: str) -> int:
    translations = runpy.run_path(str(Path(__file__).parent / "db" / "translations.py"))
    valid = translations["TRANSLATIONS"]
    seen = set()
    for _ in range(5):  # the server picks at random: ask a few times
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode("utf-8").strip()
        print(f"{url} answered: {body}")
        if body not in valid:
            print(f"not one of the database's translations: {body!r}", file=sys.stderr)
            return 1
        seen.add(body)
    print(f"ok: {len(seen)} different translation(s), all from the database")
    return 0


def unreachable(url: str) -> int:
    try:
        urllib.request.urlopen(url, timeout=3)
    except urllib.error.HTTPError as err:
        print(f"{url} answered HTTP {err.code}: it should not be reachable", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"ok: {url} is not reachable from the host ({err.__class__.__name__})")
        return 0
    print(f"{url} answered: the database should not be reachable from the host",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    checks = {"answers": answers, "unreachable": unreachable}
    if len(sys.argv) != 3 or sys.argv[1] not in checks:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(checks[sys.argv[1]](sys.argv[2]))
