"""Every judge that runs here, on our held-out labelled split: accuracy, F1 and pairs/s.

Usage::

    python benchmarks/judges.py [--judges embedded refusal prompted]

Prints one JSON object on its last line and writes it to benchmarks/results/. The same
figures, with intervals and per-category tables, come from `seas judge-eval`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import RESULTS, machine  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    from seas.data.loading import load_labelled
    from seas.judges import make_judge
    from seas.judges.evaluate import evaluate_judge

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--judges", nargs="*", default=["embedded", "refusal", "prompted"])
    args = ap.parse_args(argv)
    rows = load_labelled("builtin", "judge_heldout")
    out: dict[str, object] = {"machine": machine(), "data": "builtin judge_heldout", "rows": len(rows), "judges": {}}
    for name in args.judges:
        judge = make_judge(name)  # fitting/loading is not timed; judging is
        r = evaluate_judge(judge, rows, n_boot=200)
        out["judges"][name] = {k: r[k] for k in ("accuracy", "precision", "recall", "f1", "pairs_per_s", "ci")}  # type: ignore[index]
        print(f"{name}: accuracy {r['accuracy']:.3f} f1 {r['f1']} {r['pairs_per_s']} pairs/s", file=sys.stderr)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-judges.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
