"""Run benchmarks: ``python -m benchmarks [NAME ...] [--option ...]`` (``make bench`` runs every ``bench_*``).

Each ``benchmarks/bench_<name>.py`` defines ``main() -> dict`` that measures, checks its target
and returns its figures. ``study_protocol`` (the whole study, timed and projected) is run only when named,
and takes options, e.g. ``python -m benchmarks study_protocol --device cpu --preset quick``: everything after
the names is passed to the named benchmarks' ``main(argv)``. Results are merged into ``benchmarks/results.json``
(one key per benchmark; earlier results of other benchmarks are kept).
"""
from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import platform
import sys
from pathlib import Path

HERE = Path(__file__).parent
#: Benchmarks that run only when named (long, or with options).
ON_REQUEST = ("study_protocol",)


def main(argv: list[str]) -> int:
    first_option = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names_given, options = argv[:first_option], argv[first_option:]
    available = sorted(m.name for m in pkgutil.iter_modules([str(HERE)])
                       if m.name.startswith("bench_") or m.name in ON_REQUEST)
    names = [n for n in available if n.startswith("bench_")]
    if names_given:
        names = [n for n in available if n.removeprefix("bench_") in names_given or n in names_given]
        unknown = set(names_given) - {n.removeprefix("bench_") for n in names} - set(names)
        if unknown:
            print(f"unknown benchmark(s) {sorted(unknown)}; choose from "
                  f"{[n.removeprefix('bench_') for n in available]}", file=sys.stderr)
            return 2
    results_path = HERE / "results.json"
    results: dict[str, object] = json.loads(results_path.read_text()) if results_path.exists() else {}
    results.update({"machine": platform.platform(), "python": platform.python_version()})
    failed = []
    for name in names:
        print(f"== {name}", flush=True)
        fn = importlib.import_module(f"benchmarks.{name}").main
        res = fn(options) if inspect.signature(fn).parameters else fn()
        results[name] = res
        if isinstance(res, dict) and res.get("target_met") is False:
            failed.append(name)
    results_path.write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps({n: results[n] for n in names}, indent=2, default=str))
    if failed:
        print(f"targets missed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
