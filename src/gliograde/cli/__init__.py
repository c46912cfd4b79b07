"""The ``gliograde`` command line: a thin layer over the library.

Each subcommand lives in its own module ``gliograde.cli.<name>`` that defines
``add_parser(subparsers) -> argparse.ArgumentParser`` and ``run(args) -> int``.
Modules are found automatically, so a new stage adds a file and touches nothing else.
Heavy imports (torch, ...) happen inside ``run`` so that ``gliograde --help`` stays fast. A command
with settings turns its flags into a plain overrides dict and resolves them once
(:func:`gliograde.settings.resolve`); the library never sees the parsed arguments' namespace.

User errors (:class:`gliograde.errors.GliogradeError`) print one line per problem and exit 2 (1 when some of a
run's tasks failed: :class:`gliograde.errors.TasksFailed`);
``--debug`` shows the traceback instead. ``-q``, ``-v`` and ``--debug`` may come before or after the subcommand.
Logging and progress (:mod:`gliograde.progress`): one progress line per run; ``-v`` adds the detail (every epoch,
every CV unit's own lines), ``-q`` keeps warnings only.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from gliograde import __version__
from gliograde.errors import GliogradeError
from gliograde.progress import configure_logging, reset_logging

# Order shown in --help; modules not listed here come after, alphabetically.
_ORDER = ("synth", "ingest", "augment", "train", "cv", "predict", "export", "report", "serve")


def _subcommand_modules() -> list[str]:
    found = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
    return [n for n in _ORDER if n in found] + sorted(found - set(_ORDER))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gliograde",
        description="Grade diffuse gliomas (WHO 2, 3, 4) from brain MRI.",
    )
    parser.add_argument("--version", action="version", version=f"gliograde {__version__}")
    _add_global_flags(parser)
    parser.set_defaults(debug=False, quiet=False, verbose=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _subcommand_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        p = module.add_parser(sub)
        _add_global_flags(p)  # also after the subcommand: `gliograde cv X --out Y -q`
        p.set_defaults(func=module.run)
    return parser


def _add_global_flags(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: a flag not given leaves the attribute alone, so one given before the subcommand survives
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks for errors (default: off)")
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="less logging, no progress bars (default: off)")
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="more logging: every epoch, each CV unit's own lines, model selection per fold "
                        "(default: off)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(quiet=args.quiet, verbose=args.verbose)
    try:
        return int(args.func(args) or 0)
    except (GliogradeError, FileNotFoundError) as err:
        if args.debug:
            raise
        for line in str(err).splitlines() or [type(err).__name__]:
            print(f"gliograde {args.command}: error: {line}", file=sys.stderr)
        return err.exit_code if isinstance(err, GliogradeError) else 2
    except OSError as err:  # a full disk, a read-only or vanished folder met mid-run: one line, not a traceback
        if args.debug:
            raise
        where = f"{err.filename}: " if err.filename else ""
        print(f"gliograde {args.command}: error: {where}{err.strerror or err}; check the disk and the --out folder "
              "(--debug shows the traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gliograde {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    finally:
        reset_logging()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
