"""`citybot hub`: the subcommand registers, and --sweep-once runs a sweep against the configured database."""

import argparse
import json

from hubtesting import make_settings

from hub import cli


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    cli.register(p.add_subparsers(dest="command"))
    return p


def test_register_adds_hub_with_options():
    args = parser().parse_args(["hub", "--port", "9999", "--sweep-interval", "5"])
    assert args.command == "hub" and args.port == 9999 and args.sweep_interval == 5.0 and args.func is cli._run


def test_sweep_once(tmp_path, monkeypatch, capsys):
    settings = make_settings(tmp_path)
    monkeypatch.setattr("citybot.settings.get_settings", lambda: settings)
    args = parser().parse_args(["hub", "--sweep-once"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out) == {"newly_overdue": [], "escalated": []}
    assert (tmp_path / "hub.db").exists()
