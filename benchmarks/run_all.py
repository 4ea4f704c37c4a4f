"""`make bench`: the end-to-end figures of the throughput goals (bench_e2e.py), each benchmark in its own process.

    .venv/bin/python benchmarks/run_all.py [--all]    --all adds the component benchmarks (actions, delivery, sync)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMPONENTS = [["bench_actions.py"], ["bench_delivery.py"], ["bench_sync.py", "--rows", "1000000"]]


def main() -> int:
    runs = [["bench_e2e.py"]] + (COMPONENTS if "--all" in sys.argv[1:] else [])
    failed = 0
    for script, *args in runs:
        print(f"\n=== {script} {' '.join(args)}", flush=True)
        failed += subprocess.run([sys.executable, str(HERE / script), *args]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
