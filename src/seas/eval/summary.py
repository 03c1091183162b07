"""A few lines that answer "did it work?" from eval.json, for the end of ``seas run``."""

from __future__ import annotations

from typing import Any


def _fmt(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("value") is None:
        return "n/a"
    ci = entry.get("ci")
    ci_s = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
    return f"{entry['value']:.2f}{ci_s} (n={entry['n']})"


def _cell(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:5.2f}"


def eval_summary(ev: dict[str, Any]) -> str:
    """The ASR matrix, target ASR on held-out prompts, each red team against T0,
    over-refusal, capability and diversity: what ``seas evaluate`` and ``seas run`` print."""
    mat = ev["asr_matrix"]
    lines = ["ASR, red team (rows) x target (columns):", "      " + " ".join(f"{t[:8]:>8}" for t in mat["targets"])]
    for r, row in zip(mat["redteams"], mat["values"]):
        lines.append(f"{r:>5} " + " ".join(f"{_cell(v):>8}" for v in row))
    lines += ["", "held-out evaluation (95% bootstrap intervals)"]
    lines.append("  target ASR on the test prompts:")
    for target, sets in ev["target_asr"].items():
        lines.append(f"    {target:<6} " + "; ".join(f"{name}: {_fmt(e)}" for name, e in sets.items()))
    m = ev["asr_matrix"]
    if m["targets"]:
        col = 0
        lines.append(f"  red team ASR against {m['targets'][col]}:")
        for i, red in enumerate(m["redteams"]):
            cell = {"value": m["values"][i][col], "n": m["n"][i][col], "ci": m["ci"][i][col]}
            lines.append(f"    {red:<6} {_fmt(cell)}")
    lines.append("  refusal rate on harmless prompts (over-refusal):")
    for target, sets in ev["over_refusal"].items():
        lines.append(f"    {target:<6} " + "; ".join(f"{name}: {_fmt(e)}" for name, e in sets.items()))
    lines.append("  capability vs T0 (reference answers' log-likelihood, nats/token):")
    for target, c in ev["capability"].get("models", {}).items():
        delta = c.get("delta_vs_T0")
        lines.append(f"    {target:<6} {'n/a' if delta is None else f'{delta:+.3f}'}")
    lines.append("  red-team prompt similarity (mean max cosine, lower = more varied):")
    for red, d in ev["diversity"].items():
        lines.append(f"    {red:<6} {_fmt(d.get('mean_max_cosine'))}")
    return "\n".join(lines)
