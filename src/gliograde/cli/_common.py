"""Flags shared by several subcommands, so every command spells them the same way."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_out(p: argparse.ArgumentParser, default: str | None = None, help_: str = "output folder") -> None:
    kw = {"default": Path(default)} if default else {"required": True}
    p.add_argument("--out", type=Path, help=f"{help_} (default: {default or 'required'})", **kw)


def add_seed(p: argparse.ArgumentParser, default: int = 0) -> None:
    p.add_argument("--seed", type=int, default=default, help=f"random seed (default: {default})")


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, cuda:1 (default: auto)")


def add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None,
                   help="YAML file with defaults; flags given on the command line override it (default: none)")
