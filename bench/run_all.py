"""`make bench`: run every benchmark in turn, each printing its own comparison against peers measured in the same run.

Usage: .venv/bin/python bench/run_all.py [name ...]   (names: nlu kb sentiment router e2e load)
The figures are copied into bench/RESULTS.md by hand, together with the command that produced them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable
BENCHES: dict[str, list[str]] = {
    "kb": [PY, str(HERE / "kb_bench.py")],
    "sentiment": [PY, str(HERE / "sentiment_bench.py")],
    "router": [PY, str(HERE / "router_bench.py")],
    "e2e": [PY, str(HERE / "e2e_bench.py")],
    "load": [PY, str(HERE / "load_bench.py")],
    "nlu": [PY, str(HERE / "nlu_bench.py")],
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        print(f"\n===== {name} =====", flush=True)
        start = time.monotonic()
        code = subprocess.call(BENCHES[name], cwd=HERE.parent)
        print(f"===== {name}: exit {code} after {time.monotonic() - start:.0f} s =====", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
