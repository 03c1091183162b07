"""One Markdown row per finished run, for the ablation table in docs/ablations.md.

Usage::

    python scripts/ablation_table.py NAME=RUN_DIR [NAME=RUN_DIR ...]

Each RUN_DIR is a ``seas run`` directory with metrics.json and eval.json (``seas
evaluate``). The columns are the ones issue 8 asks about: the target's held-out ASR
from T0 to the last T (and whether the 95% intervals overlap), the red teams against
T0, over-refusal, plus the training-time ASR and pair counts that explain them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HEADER = (
    "| run | training-time ASR per iteration | target pairs | held-out ASR T0 / T1 / ... | T0 → T_last with 95% CI | fall (points) | "
    "intervals overlap | red team vs T0: R0 → R_last | over-refusal T0 / T1 / ... | capability Δ T_last | wall time |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def _pct(entry: dict[str, Any]) -> str:
    lo, hi = entry["ci"] or (None, None)
    ci = f" [{lo * 100:.0f}, {hi * 100:.0f}]" if lo is not None else ""
    return f"{entry['value'] * 100:.1f}%{ci}"


def row(name: str, run_dir: Path) -> str:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    ev = json.loads((run_dir / "eval.json").read_text())
    its = metrics["iterations"]
    train_asr = " / ".join(f"{m['target_asr'] * 100:.1f}%" for m in its)
    pairs = " / ".join(str(m["target_pairs"]) for m in its)
    tasr = ev["target_asr"]
    ts = sorted((t for t in tasr if t[0] == "T" and t[1:].isdigit()), key=lambda t: int(t[1:]))  # not ext: targets
    first, last = ts[0], ts[-1]
    a, b = tasr[first]["test"], tasr[last]["test"]
    every = " / ".join(f"{tasr[t]['test']['value'] * 100:.1f}%" for t in ts)
    fall = (a["value"] - b["value"]) * 100
    overlap = "yes" if b["ci"][1] >= a["ci"][0] and a["ci"][1] >= b["ci"][0] else "no"
    mat = ev["asr_matrix"]
    col = mat["targets"].index("T0")
    reds = f"{mat['values'][0][col] * 100:.1f}% → {mat['values'][-1][col] * 100:.1f}% (n={mat['n'][-1][col]})"
    refusal = " / ".join(f"{ev['over_refusal'][t]['harmless']['value'] * 100:.1f}%" for t in ts)
    cap = ev["capability"]["models"].get(last, {}).get("delta_vs_T0")
    secs = sum(sum(m.get("wall_time_s", {}).values()) for m in its)
    return (
        f"| {name} | {train_asr} | {pairs} | {every} | {_pct(a)} → {_pct(b)} | {fall:+.1f} | {overlap} | {reds} | "
        f"{refusal} | {'n/a' if cap is None else f'{cap:+.3f}'} | {secs / 60:.0f} min loop + "
        f"{ev['seconds'] / 60:.0f} min eval |"
    )


def main(argv: list[str]) -> int:
    if not argv or any("=" not in a for a in argv):
        print(__doc__, file=sys.stderr)
        return 2
    print(HEADER)
    for item in argv:
        name, _, path = item.partition("=")
        print(row(name, Path(path)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
