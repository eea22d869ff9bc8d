"""Host-side checks of the compose exercise (standard library only).

Usage:
  probe.py page URL             URL answers 200 with a page listing every seed greeting
  probe.py unreachable URL...   nothing answers at any URL (only the frontend is published)
"""
import sys
import urllib.error
import urllib.request
from pathlib import Path


def page(url: str) -> int:
    seed = (Path(__file__).parent / "seed" / "greetings.txt").read_text(encoding="utf-8")
    wanted = [line.strip() for line in seed.splitlines()
              if line.strip() and not line.startswith("#")]
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read().decode("utf-8")
    missing = [g for g in wanted if f"<li>{g}</li>" not in body]
    if missing:
        print(f"{url} does not list {missing}:\n{body}", file=sys.stderr)
        return 1
    print(f"ok: {url} lists all {len(wanted)} seed greetings "
          f"({body.count('<li>')} in all)")
    return 0


def unreachable(*urls: str) -> int:
    for url in urls:
        try:
            urllib.request.urlopen(url, timeout=3)
        except urllib.error.HTTPError as err:
            print(f"{url} answered HTTP {err.code}: it should not be reachable",
                  file=sys.stderr)
            return 1
        except OSError as err:
            print(f"ok: {url} is not reachable from the host ({err.__class__.__name__})")
            continue
        print(f"{url} answered: it should not be reachable from the host", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    checks = {"page": page, "unreachable": unreachable}
    if len(sys.argv) < 3 or sys.argv[1] not in checks:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(checks[sys.argv[1]](*sys.argv[2:]))
