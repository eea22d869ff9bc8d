"""``python -m tasks.cluster up [N] | down | status``: the command behind script/cluster."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..engine.client import Engine
from ..errors import Ac295Error
from ..dsl import config
from . import nodes


def say(line: str) -> None:
    print(f"cluster: {line}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="script/cluster", description=nodes.__doc__.split(
        "\n\n")[0] if nodes.__doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("up", help="make or converge to N nodes (default 3)")
    make.add_argument("count", type=int, nargs="?", default=3)
    commands.add_parser("down", help="remove the cluster entirely")
    commands.add_parser("status", help="the nodes, and how to use the cluster")
    args = parser.parse_args(argv)
    engine = Engine(project="cluster")
    try:
        if args.command == "up":
            cfg = config.load(Path.cwd())
            found = nodes.up(engine, args.count, cfg.variables["base_image"], cfg.state, say)
        elif args.command == "down":
            nodes.down(engine, say)
            say("no cluster left")
            return 0
        else:
            found = nodes.current(engine)  # type: ignore[assignment]
            if found is None:
                say("no cluster here: script/cluster up 3")
                return 1
        print(nodes.node_list(found))
        say(f"manager {found.manager}; registry {found.registry_push} (this machine) = "
            f"{found.registry_pull} (the nodes)")
        if found.tls is not None:
            say(f"the engines answer only TLS clients with a certificate from the cluster's CA; "
                f"this project's: {found.tls.cert.parent}")
        say("use it: AC295_CLUSTER=swarm script/doit exercise2 demo2 grade")
        return 0
    except Ac295Error as err:
        say(f"error: {err}")
        return 1
    except KeyboardInterrupt:
        say("interrupted; `script/cluster down` removes what was made")
        return 130


if __name__ == "__main__":
    sys.exit(main())
