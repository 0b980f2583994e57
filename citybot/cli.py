"""The `citybot` command line. Each subcommand lives next to the code it drives and registers itself here.

Subcommand modules expose `register(subparsers)`; their handlers import heavy dependencies lazily so that
`citybot --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Modules that contribute subcommands, in the order `--help` lists them.
COMMAND_MODULES = (
    "citybot.run_cmd",
    "citybot.migrate",
    "hub.cli",
    "nlu.cli",
    "actions.cli",
    "hotline.cli",
    "bot.cli",
    "bot.staff.cli",
    "bot.terminal",
    "hubapi.staff_cli",
    "citybot.conversations",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="citybot", description="城市管理市民服务机器人 citybot")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from citybot.logs import setup_logging

    setup_logging(logging.DEBUG if args.verbose else None)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
