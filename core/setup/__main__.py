"""`python -m core.setup <command>`: the setup path for people at a terminal and for bulk work.

Each module listed in `COMMAND_MODULES` adds its subcommands with `add_commands(subparsers)`;
a subcommand's handler takes the parsed arguments and returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules of core.setup that contribute subcommands (each has `add_commands(subparsers)`).
COMMAND_MODULES: tuple[str, ...] = ("first_admin", "organization_commands", "portfolio_cli", "framework_files",
                                   "channels")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.setup", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"core.setup.{name}").add_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
