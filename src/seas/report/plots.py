"""The report's figures, drawn with matplotlib (no pyplot state, no display) and
returned as base64 PNG so that the page embeds them and needs no network."""

from __future__ import annotations

import base64
import io
import math
from typing import Any, Sequence

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]


def _figure(w: float, h: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _err(values: Sequence[float | None], cis: Sequence[Sequence[float] | None]) -> list[list[float]]:
    lo, hi = [], []
    for v, ci in zip(values, cis):
        if v is None or not ci:
            lo.append(0.0)
            hi.append(0.0)
        else:
            lo.append(max(0.0, v - ci[0]))
            hi.append(max(0.0, ci[1] - v))
    return [lo, hi]


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


def line_with_ci(series: list[dict[str, Any]], xlabels: list[str], ylabel: str, title: str) -> str:
    """One line per series: {"name", "x" (indices into xlabels), "values", "ci"}."""
    fig = _figure(7, 3.6)
    ax = fig.add_subplot()
    for k, s in enumerate(series):
        ax.errorbar(
            s["x"], [_nan(v) for v in s["values"]], yerr=_err(s["values"], s["ci"]), marker="o", capsize=4,
            color=COLORS[k % len(COLORS)], label=s["name"],
        )
    ax.set_xticks(range(len(xlabels)), xlabels)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def heatmap(rows: list[str], cols: list[str], values: list[list[float | None]], n: list[list[int]], title: str) -> str:
    import numpy as np

    fig = _figure(max(5.0, 1.6 + 1.1 * len(cols)), 1.4 + 0.7 * len(rows))
    ax = fig.add_subplot()
    data = np.array([[_nan(v) for v in row] for row in values], dtype=float)
    im = ax.imshow(np.ma.masked_invalid(data), cmap="Reds", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(cols)), [c if len(c) <= 14 else c[:13] + "…" for c in cols], rotation=20, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("target")
    ax.set_ylabel("red team")
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = data[i, j]
            text = "n/a" if math.isnan(v) else f"{v:.2f}"
            ax.text(j, i, f"{text}\nn={n[i][j]}", ha="center", va="center", fontsize=8,
                    color="white" if not math.isnan(v) and v > 0.6 else "black")
    fig.colorbar(im, ax=ax, label="ASR")
    ax.set_title(title, fontsize=10)
    return _png(fig)


def grouped_bars(groups: list[str], series: list[dict[str, Any]], ylabel: str, title: str) -> str:
    """Bars per group, one colour per series {"name", "values", "ci"} (values align with groups)."""
    import numpy as np

    fig = _figure(max(7.0, 0.55 * len(groups) * max(1, len(series)) ** 0.5 + 2), 4.2)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(series))
    x = np.arange(len(groups))
    for k, s in enumerate(series):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, [0.0 if v is None else v for v in s["values"]], width,
               yerr=_err(s["values"], s["ci"]), capsize=2, color=COLORS[k % len(COLORS)], label=s["name"])
    ax.set_xticks(x, groups, rotation=35, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def diversity(labels: list[str], panels: list[dict[str, Any]]) -> str:
    """Side-by-side bar panels {"title", "values", "ci"}, one bar per red team."""
    fig = _figure(3.4 * len(panels), 3.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, p in zip(axes, panels):
        ax.bar(range(len(labels)), [0.0 if v is None else v for v in p["values"]],
               yerr=_err(p["values"], p["ci"]), capsize=4, color=COLORS[0])
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylim(0, 1.05)
        ax.set_title(p["title"], fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def tradeoff(points: list[dict[str, Any]]) -> str:
    """Scatter of {"label", "x" (over-refusal), "x_ci", "y" (ASR), "y_ci"}; run targets joined in order."""
    fig = _figure(5.5, 4.2)
    ax = fig.add_subplot()
    run = [p for p in points if not p["label"].startswith("ext:")]
    if len(run) > 1:
        ax.plot([p["x"] for p in run], [p["y"] for p in run], color="#999999", lw=1, zorder=1)
    for k, p in enumerate(points):
        ax.errorbar([p["x"]], [p["y"]], xerr=_err([p["x"]], [p["x_ci"]]), yerr=_err([p["y"]], [p["y_ci"]]),
                    marker="o", capsize=3, color=COLORS[k % len(COLORS)], zorder=2)
        ax.annotate(p["label"][:20], (p["x"], p["y"]), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("over-refusal (refused harmless prompts)")
    ax.set_ylabel("ASR on test prompts")
    ax.set_title("safety vs over-refusal (lower left is better)", fontsize=10)
    ax.grid(alpha=0.3)
    return _png(fig)


def losses(curves: list[dict[str, Any]]) -> str:
    """Training loss per logged step: {"name", "kind" (SFT / DPO), "steps", "loss"} per training run.
    One panel per kind, since SFT cross-entropy and the DPO loss live on different scales."""
    kinds = sorted({c["kind"] for c in curves}, key=lambda k: (k != "SFT", k))
    fig = _figure(3.8 * len(kinds) + 1, 3.4)
    axes = fig.subplots(1, len(kinds), squeeze=False)[0]
    for ax, kind in zip(axes, kinds):
        for k, c in enumerate(x for x in curves if x["kind"] == kind):
            ax.plot(c["steps"], c["loss"], marker=".", color=COLORS[k % len(COLORS)], label=c["name"])
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(f"{kind} training loss (TRL log history)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _png(fig)
