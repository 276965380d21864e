"""`make bench`: run every tests/bench/bench_*.py module and print one markdown table.

Usage: python tests/bench/run.py [AREA ...]   (e.g. `server client`; default: all)
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import Row  # noqa: E402


def _fmt(value: float, unit: str) -> str:
    if value >= 1000:
        text = f"{value:,.0f}"
    elif value >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def main(argv: list[str]) -> int:
    wanted = set(argv)
    rows: list[Row] = []
    failures = 0
    for path in sorted(HERE.glob("bench_*.py")):
        area = path.stem.removeprefix("bench_")
        if wanted and area not in wanted:
            continue
        print(f"running {path.name} ...", file=sys.stderr, flush=True)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
            rows.extend(module.run())
        except Exception:
            failures += 1
            traceback.print_exc()
    print()
    print("| area | measure | jfml | peer | peer value | ratio | target | met |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.area} | {r.measure} | {_fmt(r.ours, r.unit)} | {r.peer_name} | "
            f"{_fmt(r.peer, r.unit)} | {r.ratio:.2f}x | {r.target} | {r.met} |"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
