"""``seas report DIR``: one self-contained static HTML page (DIR/report.html).

Reads what the run wrote (config.yaml, meta.json, metrics.json, iter_*/attack.jsonl,
iter_*/*/train_stats.json) and, when present, eval.json. Figures are embedded PNGs;
the page loads nothing from the network and runs no script. Every string that comes
from a model, a data file or the run (prompts, responses, categories, paths) goes
through ``html.escape``.
"""

from __future__ import annotations

import html
import random
import time
from pathlib import Path
from typing import Any

import yaml

from seas.io import atomic_write_text, read_json, read_jsonl
from seas.report import plots
from seas.report.findings import findings

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;background:#fff}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em} th,td{border:1px solid #ddd;padding:.25em .5em;vertical-align:top;text-align:left}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;display:block;margin:.6em 0}
.muted{color:#666;font-size:.9em} .text{white-space:pre-wrap;word-break:break-word;max-width:420px;font-family:ui-monospace,monospace;font-size:.85em}
.label{font-weight:bold;padding:.05em .4em;border-radius:3px}
.unsafe{background:#fbd5d5;color:#8a1010} .safe{background:#d5f2d9;color:#145c22} .unknown{background:#eee;color:#555}
.finding{margin:.5em 0;padding:.5em .8em;border-left:5px solid #999;background:#fafafa}
.finding.shown{border-color:#2ca02c} .finding.partly{border-color:#ff9f0e} .finding.not-shown{border-color:#d62728}
.badge{font-weight:bold;text-transform:uppercase;font-size:.8em;margin-right:.5em}
"""


def e(value: Any) -> str:
    """Escape anything for HTML text or attribute values.

    >>> e('<script>alert("x")</script>')
    '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'
    """
    return html.escape("" if value is None else str(value), quote=True)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _rate(d: dict[str, Any] | None) -> str:
    if not d or d.get("value") is None:
        return "n/a"
    ci = d.get("ci")
    return f"{_pct(d['value'])} [{100 * ci[0]:.0f}, {100 * ci[1]:.0f}]" if ci else _pct(d["value"])


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{e(alt)}" src="data:image/png;base64,{b64}">'


def _table(header: list[str] | None, rows: list[list[str]], numeric_from: int = 1) -> str:
    """Cells are already-escaped HTML."""
    head = "<tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>" if header else ""
    body = "".join(
        "<tr>" + "".join(f'<td{" class=num" if j >= numeric_from else ""}>{c}</td>' for j, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table>{head}{body}</table>"


def _load(path: Path) -> Any:
    return read_json(path) if path.is_file() else None


def _iterations(run_dir: Path) -> list[int]:
    return sorted(int(p.name[5:]) for p in run_dir.glob("iter_*") if p.name[5:].isdigit())


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n] + " …"


# ---------------------------------------------------------------------------- sections


def _section_summary(run_dir: Path, cfg: dict[str, Any], meta: dict[str, Any] | None, ev: dict[str, Any] | None) -> str:
    rt, tg = cfg.get("redteam", {}), cfg.get("target", {})
    rows = [
        ["run directory", e(run_dir.resolve())],
        ["red team / target model", e(f"{rt.get('model', {}).get('name_or_path')} / {tg.get('model', {}).get('name_or_path')}")],
        ["iterations (configured)", e(cfg.get("iterations"))],
        ["seeds per iteration, n prompts, m responses",
         e(f"{cfg.get('seeds_per_iteration')}, {rt.get('prompts_per_seed')}, {tg.get('responses_per_prompt')}")],
        ["judge (run)", e(cfg.get("judge", {}).get("name"))],
    ]
    if ev:
        h = ev.get("heldout", {})
        rows += [
            ["judge (evaluation)", e(ev.get("judge", {}).get("name"))],
            ["held-out seeds × prompts × responses",
             e(f"{h.get('seeds')} × {h.get('prompts_per_seed')} × {h.get('responses_per_prompt')} "
               f"(from {h.get('source')} [{h.get('split')}])")],
            ["evaluated", e(ev.get("created"))],
        ]
    if meta:
        git = meta.get("git", {})
        rows.append(["seas / commit", e(f"{meta.get('seas_version')} / {git.get('commit')}{' (dirty)' if git.get('dirty') else ''}")])
    return "<h2>Run</h2>" + _table(None, rows, numeric_from=9)


def _section_findings(items: list[dict[str, str]]) -> str:
    out = ["<h2>What this run shows</h2>"]
    for f in items:
        cls = f["status"].replace(" ", "-")
        out.append(f'<div class="finding {e(cls)}"><span class="badge">{e(f["status"])}</span>{e(f["text"])}</div>')
    return "\n".join(out)


def _section_asr(ev: dict[str, Any] | None, metrics: dict[str, Any] | None) -> str:
    out = ["<h2>Target ASR per iteration</h2>"]
    series: list[dict[str, Any]] = []
    labels: list[str] = []
    if ev:
        ta = ev.get("target_asr", {})
        labels = [t for t in ta if not t.startswith("ext:")]
        for name in sorted({s for t in labels for s in ta[t]}, key=lambda s: (s != "test", s)):
            vals = [ta[t].get(name, {}) for t in labels]
            series.append({"name": f"T_i on held-out '{name}' prompts", "x": list(range(len(labels))),
                           "values": [v.get("value") for v in vals], "ci": [v.get("ci") for v in vals]})
    its = (metrics or {}).get("iterations", [])
    if its:
        n = max(len(labels), max(m["iteration"] for m in its))
        labels = labels or [f"T{i}" for i in range(n)]
        while len(labels) < n:
            labels.append(f"T{len(labels)}")
        series.append({"name": "training-time attack: R(i-1) vs T(i-1) (metrics.json)",
                       "x": [m["iteration"] - 1 for m in its],
                       "values": [m.get("target_asr") for m in its], "ci": [m.get("target_asr_ci95") for m in its]})
    if not series:
        return out[0] + "<p>No metrics.json or eval.json yet.</p>"
    out.append(_img(plots.line_with_ci(series, labels, "ASR (unsafe share)", "attack success rate with 95% bootstrap CI"),
                    "target ASR per iteration"))
    if its:
        rows = [[e(m["iteration"]), e(_rate({"value": m.get("target_asr"), "ci": m.get("target_asr_ci95")})),
                 e(m.get("responses")), e(m.get("unknown")), e(m.get("redteam_pairs")), e(m.get("target_pairs"))] for m in its]
        out.append('<p class="muted">Training-time attacks (metrics.json): iteration i attacks T(i-1) with R(i-1).</p>')
        out.append(_table(["iteration", "ASR [95% CI]", "responses", "unknown", "red-team pairs", "target pairs"], rows))
    if ev:
        rows = []
        for t, sets in ev.get("target_asr", {}).items():
            for name, d in sets.items():
                ovr = ev.get("over_refusal", {}).get(t, {})
                rows.append([e(t), e(name), e(_rate(d)), e(d.get("n")), e(d.get("unknown")),
                             "<br>".join(f"{e(k)}: {e(_rate(v))}" for k, v in ovr.items())])
        out.append('<p class="muted">Held-out evaluation (eval.json).</p>')
        out.append(_table(["target", "prompt set", "ASR [95% CI]", "judged", "unknown", "over-refusal [95% CI]"], rows, 2))
    return "\n".join(out)


def _section_matrix(ev: dict[str, Any]) -> str:
    mat = ev.get("asr_matrix", {})
    if not mat.get("redteams") or not mat.get("targets"):
        return "<h2>Red team × target</h2><p>No matrix: the run has no finished red team or target.</p>"
    img = plots.heatmap(mat["redteams"], mat["targets"], mat["values"], mat["n"],
                        "ASR: red team R_i (rows) vs target T_j (columns)")
    rows = [[e(r)] + [e(_rate({"value": v, "ci": c})) for v, c in zip(vals, cis)]
            for r, vals, cis in zip(mat["redteams"], mat["values"], mat["ci"])]
    return ("<h2>Red team × target</h2>" + _img(img, "ASR heat map") +
            _table(["red team \\ target"] + [e(t) for t in mat["targets"]], rows))


def _section_categories(ev: dict[str, Any]) -> str:
    ta = ev.get("target_asr", {})
    cats = sorted({c for sets in ta.values() for c in sets.get("test", {}).get("per_category", {})})
    if not cats:
        return ""
    series = []
    for t, sets in ta.items():
        pc = sets.get("test", {}).get("per_category", {})
        series.append({"name": t, "values": [pc.get(c, {}).get("value") for c in cats],
                       "ci": [pc.get(c, {}).get("ci") for c in cats]})
    img = plots.grouped_bars(cats, series, "ASR", "ASR per category on held-out test prompts (95% CI)")
    return "<h2>Per category</h2>" + _img(img, "ASR per category")


def _section_diversity(ev: dict[str, Any]) -> str:
    div = ev.get("diversity", {})
    if not div:
        return ""
    labels = list(div)
    panels = [
        {"title": "mean max cosine similarity (lower = more varied)", "values": [div[r]["mean_max_cosine"]["value"] for r in labels],
         "ci": [div[r]["mean_max_cosine"]["ci"] for r in labels]},
        {"title": "Self-BLEU (lower = more varied)", "values": [div[r]["self_bleu"]["value"] for r in labels],
         "ci": [div[r]["self_bleu"]["ci"] for r in labels]},
    ]
    rows = []
    for r in labels:
        d = div[r]
        cos = d["mean_max_cosine"]
        rows.append([e(r), e(d["prompts"]), e(d["empty"]),
                     e("n/a" if cos["value"] is None else f"{cos['value']:.3f}") + (f" <span class=muted>({e(cos['error'])})</span>" if cos.get("error") else ""),
                     e("n/a" if d["self_bleu"]["value"] is None else f"{d['self_bleu']['value']:.3f}"),
                     e("n/a" if d.get("distinct_2") is None else f"{d['distinct_2']:.3f}")])
    return ("<h2>Diversity of each red team's prompts</h2>" + _img(plots.diversity(labels, panels), "diversity") +
            _table(["red team", "prompts", "empty", "mean max cosine", "Self-BLEU", "distinct-2"], rows))


def _section_tradeoff(ev: dict[str, Any]) -> str:
    pts = []
    for t, sets in ev.get("target_asr", {}).items():
        a = sets.get("test", {})
        o = ev.get("over_refusal", {}).get(t, {}).get("harmless", {})
        if a.get("value") is not None and o.get("value") is not None:
            pts.append({"label": t, "x": o["value"], "x_ci": o.get("ci"), "y": a["value"], "y_ci": a.get("ci")})
    out = "<h2>Safety vs over-refusal and capability</h2>"
    if pts:
        out += _img(plots.tradeoff(pts), "ASR vs over-refusal")
    cap = ev.get("capability", {})
    if cap.get("models"):
        rows = [[e(t), e(f"{d['value']:.3f}" if d.get("value") is not None else "n/a"),
                 e("" if d.get("delta_vs_T0") is None else f"{d['delta_vs_T0']:+.3f}"),
                 e("" if not d.get("delta_ci") else f"[{d['delta_ci'][0]:+.3f}, {d['delta_ci'][1]:+.3f}]"), e(d.get("n"))]
                for t, d in cap["models"].items()]
        out += (f'<p class="muted">Capability: {e(cap.get("measure"))}, on {e(cap.get("examples"))} general '
                "instructions. Negative change vs T0 = the target now finds good helpful answers less likely.</p>")
        out += _table(["target", "mean log-prob / token", "change vs T0", "95% CI", "examples"], rows)
    return out


def _section_training(run_dir: Path) -> str:
    rows, curves = [], []
    for i in _iterations(run_dir):
        for role in ("redteam", "target"):
            s = _load(run_dir / f"iter_{i}" / role / "train_stats.json")
            if not s:
                continue
            kind = "SFT" if i == 0 else "DPO"
            f = lambda v: "" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))  # noqa: E731
            rows.append([e(f"iter {i} {role} ({kind})"), e(f(s.get("rows"))), e(f(s.get("steps"))), e(f(s.get("first_loss"))),
                         e(f(s.get("final_loss"))), e(f(s.get("train_loss"))), e(f(s.get("reward_margin"))), e(f(s.get("seconds")))])
            hist = [h for h in s.get("log_history", []) if "loss" in h and "step" in h]
            if hist:
                curves.append({"name": f"iter {i} {role}", "kind": kind, "steps": [h["step"] for h in hist], "loss": [h["loss"] for h in hist]})
    if not rows:
        return "<h2>Training</h2><p>No train_stats.json found.</p>"
    out = "<h2>Training</h2>"
    if curves:
        out += _img(plots.losses(curves), "training loss")
    return out + _table(["stage", "rows", "steps", "first loss", "final loss", "train loss", "reward margin", "seconds"], rows)


def _section_samples(run_dir: Path, per_iteration: int) -> str:
    out = ["<h2>Sample attacks</h2>",
           '<p class="muted">Drawn from each iteration\'s attack.jsonl (unsafe first), shown as the models wrote them.</p>']
    found = False
    for i in _iterations(run_dir):
        path = run_dir / f"iter_{i}" / "attack.jsonl"
        if not path.is_file():
            continue
        found = True
        rows = read_jsonl(path)
        rng = random.Random(f"report-{i}")
        picked: list[dict[str, Any]] = []
        for label, share in (("unsafe", 0.5), ("safe", 0.35), ("unknown", 0.15)):
            pool = [r for r in rows if r.get("label") == label]
            picked += rng.sample(pool, min(len(pool), max(1, round(per_iteration * share))))
        picked = picked[:per_iteration]
        table = [[e(r.get("category")), f'<div class="text">{e(_clip(str(r.get("prompt", "")), 600))}</div>',
                  f'<div class="text">{e(_clip(str(r.get("response", "")), 900))}</div>',
                  f'<span class="label {e(r.get("label"))}">{e(r.get("label"))}</span>',
                  f'<div class="text">{e(_clip(str(r.get("judge_raw", "")), 200))}</div>'] for r in picked]
        out.append(f"<h3>Iteration {i} (R{i - 1} attacks T{i - 1}; {len(rows)} responses)</h3>")
        out.append(_table(["category", "prompt", "response", "label", "judge"], table, numeric_from=9))
    if not found:
        out.append("<p>No attack.jsonl yet.</p>")
    return "\n".join(out)


# ---------------------------------------------------------------------------- page


def build_report(run_dir: str | Path, samples: int = 6) -> str:
    """The report page as a string."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir}: no such run directory")
    cfg_path = run_dir / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
    meta, metrics, ev = _load(run_dir / "meta.json"), _load(run_dir / "metrics.json"), _load(run_dir / "eval.json")
    parts = [
        _section_summary(run_dir, cfg or {}, meta, ev),
        _section_findings(findings(ev, metrics, (cfg or {}).get("iterations"))),
        _section_asr(ev, metrics),
    ]
    if ev:
        parts += [_section_matrix(ev), _section_categories(ev), _section_diversity(ev), _section_tradeoff(ev)]
    parts += [_section_training(run_dir), _section_samples(run_dir, samples)]
    title = f"SEAS run report: {run_dir.resolve().name}"
    body = "\n".join(p for p in parts if p)
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>\n"
        f"<h1>{e(title)}</h1><p class=\"muted\">Generated by <code>seas report</code> on {e(generated)}. "
        "SEAS: Diao et al., AAAI 2025 (arXiv 2408.02632). ASR = unsafe share of the judged responses; "
        "intervals are 95% percentile bootstrap over responses.</p>\n"
        f"{body}\n</body></html>\n"
    )


def write_report(run_dir: str | Path, output: str | Path | None = None, samples: int = 6) -> Path:
    """Write the report atomically (default DIR/report.html) and return its path."""
    path = Path(output) if output else Path(run_dir) / "report.html"
    atomic_write_text(path, build_report(run_dir, samples))
    return path


__all__ = ["build_report", "e", "write_report"]
