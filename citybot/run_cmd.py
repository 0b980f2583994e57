"""`citybot run`: start every part of citybot on one machine under one supervisor (see citybot.supervisor)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="start the hub and every other part on this machine (Ctrl-C stops all)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from citybot.supervisor import run_all

    return run_all()
