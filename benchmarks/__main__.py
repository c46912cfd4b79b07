"""Run every benchmark: ``python -m benchmarks [NAME ...]`` (``make bench``).

Each ``benchmarks/bench_<name>.py`` defines ``main() -> dict`` that measures, checks its target
and returns its figures; results are gathered in ``benchmarks/results.json``.
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import platform
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if n.removeprefix("bench_") in argv or n in argv]
    results: dict[str, object] = {"machine": platform.platform(), "python": platform.python_version()}
    failed = []
    for name in names:
        print(f"== {name}", flush=True)
        res = importlib.import_module(f"benchmarks.{name}").main()
        results[name] = res
        if isinstance(res, dict) and res.get("target_met") is False:
            failed.append(name)
    (HERE / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))
    if failed:
        print(f"targets missed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
