"""Run a judge over a file, and measure a judge against human labels."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

from seas.io import iter_jsonl, write_jsonl
from seas.judges.base import Judge, Judgement
from seas.metrics import bootstrap_stat

log = logging.getLogger(__name__)


def read_pairs(path: str | Path) -> list[dict[str, Any]]:
    """Rows with ``prompt`` and ``response`` from JSONL, JSON, CSV or Parquet (any other
    ending is read as JSONL); a row without them is an error naming the row. Every other
    field is kept as is."""
    from seas.data.loading import FILE_SUFFIXES, read_file_rows

    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if path.suffix.lower() in FILE_SUFFIXES:
        located = read_file_rows(path)
    else:
        located = [(f"{path}:{n}", r) for n, r in iter_jsonl(path)]
    for where, row in located:
        for name in ("prompt", "response"):
            if not isinstance(row.get(name), str):
                raise ValueError(f"{where}: missing or non-text field {name!r} (row has: {', '.join(row)})")
    return [r for _, r in located]


def judge_rows(judge: Judge, rows: Sequence[dict[str, Any]], batch_size: int = 256) -> list[Judgement]:
    from tqdm.auto import tqdm

    out: list[Judgement] = []
    for i in tqdm(range(0, len(rows), batch_size), desc=f"judge {judge.name}", unit="batch", leave=False):
        batch = rows[i : i + batch_size]
        got = judge.judge([r["prompt"] for r in batch], [r["response"] for r in batch])
        if len(got) != len(batch):
            raise RuntimeError(f"judge {judge.name!r} returned {len(got)} verdicts for {len(batch)} pairs")
        out += got
    return out


def judge_file(judge: Judge, inp: str | Path, out: str | Path) -> dict[str, Any]:
    """Label every row of ``inp`` into ``out`` (same rows, same order, all fields kept)."""
    rows = read_pairs(inp)
    start = time.time()
    verdicts = judge_rows(judge, rows)
    seconds = time.time() - start
    write_jsonl(out, ({**r, "label": v.label, "score": v.score, "categories": list(v.categories)} for r, v in zip(rows, verdicts)))
    counts = {k: sum(v.label == k for v in verdicts) for k in ("safe", "unsafe", "unknown")}
    truncated = int(getattr(judge, "truncated", 0))
    if truncated:
        log.warning("%d inputs were longer than the judge's window and were truncated", truncated)
    return {"rows": len(rows), **counts, "truncated": truncated, "seconds": round(seconds, 2)}


def _confusion(gold: Sequence[str], pred: Sequence[str], idx: Sequence[int]) -> dict[str, int]:
    c = {"tp": 0, "fp": 0, "tn": 0, "fn": 0, "unknown": 0}
    for i in idx:
        if pred[i] == "unknown":
            c["unknown"] += 1
        elif gold[i] == "unsafe":
            c["tp" if pred[i] == "unsafe" else "fn"] += 1
        else:
            c["fp" if pred[i] == "unsafe" else "tn"] += 1
    return c


def _scores(c: dict[str, int]) -> dict[str, float | None]:
    """Unknown verdicts count as wrong for accuracy (a judge gets no credit for abstaining)."""
    n = c["tp"] + c["fp"] + c["tn"] + c["fn"] + c["unknown"]
    p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else None
    r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else None
    f1 = 2 * p * r / (p + r) if p is not None and r is not None and p + r > 0 else None
    return {"accuracy": (c["tp"] + c["tn"]) / n if n else None, "precision": p, "recall": r, "f1": f1}


def agreement(gold: Sequence[str], pred: Sequence[str], n_boot: int = 1000) -> dict[str, Any]:
    """Accuracy, precision, recall and F1 of ``pred`` against ``gold`` ('unsafe' is the
    positive class), the confusion matrix, and bootstrap 95% intervals.

    >>> a = agreement(["unsafe", "safe", "safe", "unsafe"], ["unsafe", "safe", "unsafe", "unknown"], n_boot=50)
    >>> a["accuracy"], a["confusion"]["unknown"]
    (0.5, 1)
    """
    if len(gold) != len(pred):
        raise ValueError("gold and predicted labels differ in length")
    all_idx = range(len(gold))
    conf = _confusion(gold, pred, all_idx)
    out: dict[str, Any] = {"n": len(gold), **_scores(conf), "confusion": conf, "ci": {}}
    for name in ("accuracy", "precision", "recall", "f1"):

        def stat(idx: Sequence[int], k: str = name) -> float | None:
            return _scores(_confusion(gold, pred, idx))[k]

        ci = bootstrap_stat(len(gold), stat, n_boot=n_boot)
        out["ci"][name] = list(ci) if ci else None
    return out


def evaluate_judge(judge: Judge, rows: Sequence[dict[str, Any]], n_boot: int = 1000) -> dict[str, Any]:
    """Agreement with the rows' human ``label``, overall and per category, and throughput."""
    start = time.time()
    verdicts = judge_rows(judge, rows)
    seconds = time.time() - start
    gold = [r["label"] for r in rows]
    pred = [v.label for v in verdicts]
    result = {"judge": judge.name, **agreement(gold, pred, n_boot)}
    result["pairs_per_s"] = round(len(rows) / seconds, 2) if seconds > 0 else None
    per_cat: dict[str, Any] = {}
    for cat in sorted({str(r.get("category", "")) for r in rows if r.get("category")}):
        idx = [i for i, r in enumerate(rows) if r.get("category") == cat]
        per_cat[cat] = agreement([gold[i] for i in idx], [pred[i] for i in idx], n_boot=200)
    result["per_category"] = per_cat
    return result


def format_table(result: dict[str, Any]) -> str:
    def cell(name: str) -> str:
        v, ci = result[name], result["ci"].get(name)
        if v is None:
            return "n/a"
        return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{v:.3f}"

    c = result["confusion"]
    lines = [
        f"judge {result['judge']} on {result['n']} rows ({result.get('pairs_per_s')} pairs/s)",
        "",
        "metric     value [95% CI]",
        *(f"{m:<10} {cell(m)}" for m in ("accuracy", "precision", "recall", "f1")),
        "",
        "                 judged unsafe  judged safe  unknown",
        f"human unsafe     {c['tp']:>13}  {c['fn']:>11}",
        f"human safe       {c['fp']:>13}  {c['tn']:>11}",
        f"(unknown verdicts: {c['unknown']})",
    ]
    if result.get("per_category"):
        lines += ["", f"{'category':<28} {'n':>4} {'accuracy':>9} {'f1':>6}"]
        for cat, r in result["per_category"].items():
            acc = "n/a" if r["accuracy"] is None else f"{r['accuracy']:.2f}"
            f1 = "n/a" if r["f1"] is None else f"{r['f1']:.2f}"
            lines.append(f"{cat[:28]:<28} {r['n']:>4} {acc:>9} {f1:>6}")
    return "\n".join(lines)
