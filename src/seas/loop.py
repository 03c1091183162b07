"""The SEAS loop, top to bottom: initialize -> (attack -> pair -> optimize) x N.

Every stage checks the run directory first and skips what is already complete, so
``run`` on an existing directory resumes where it stopped.

Layout::

    DIR/config.yaml  meta.json  metrics.json
    DIR/iter_0/redteam/   R0 (SFT)          iter_0/target/  T0
    DIR/iter_<i>/attack.jsonl  prompts.jsonl  redteam_pairs.jsonl  target_pairs.jsonl
                 timings.json  redteam/ (R_i)  target/ (T_i)
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Any

from seas.config import SeasConfig
from seas.data.loading import load_general, load_prompts, load_refusals
from seas.data.seeds import sft_examples
from seas.data.templates import redteam_instruction
from seas.io import SCHEMA_VERSION, read_json, read_jsonl, write_json, write_jsonl
from seas.judges import make_judge
from seas.metrics import attack_success_rate, bootstrap_ci, count_labels
from seas.models import is_complete
from seas.pairs import build_general_pairs, build_redteam_pairs, build_target_pairs
from seas.rundir import RunLock, prepare
from seas.stages.attack import attack
from seas.stages.train import pointer, train

log = logging.getLogger(__name__)


def initialize(cfg: SeasConfig, run_dir: Path, pool: list[dict[str, Any]], general: list[dict[str, Any]]) -> None:
    """R0 = SFT of the red-team model on k-shot examples; T0 = the instruct model (or an SFT of it)."""
    d = run_dir / "iter_0"
    timings = _timings(d)
    if not is_complete(d / "redteam"):
        t = time.time()
        ex = sft_examples(pool, cfg.examples_per_seed, cfg.redteam.sft_examples, random.Random(f"sft-{cfg.seed}"))
        rows = [{"prompt": redteam_instruction(e["category"], e["examples"]), "completion": e["target"]} for e in ex]
        train("sft", cfg.redteam.model.name_or_path, cfg.redteam.model, cfg.redteam.sft, rows, d / "redteam", cfg.seed)
        timings["redteam_sft"] = time.time() - t
    if not is_complete(d / "target"):
        t = time.time()
        if cfg.target.init == "sft":
            rows = [{"prompt": g["prompt"], "completion": g["response"]} for g in general]
            train("sft", cfg.target.model.name_or_path, cfg.target.model, cfg.target.sft, rows, d / "target", cfg.seed)
        else:
            pointer(cfg.target.model.name_or_path, d / "target", "T0 is the given instruct model")
        timings["target_init"] = time.time() - t
    write_json(d / "timings.json", timings)


def _timings(d: Path) -> dict[str, float]:
    return read_json(d / "timings.json") if (d / "timings.json").exists() else {}


def _pairs(path: Path, build: Any) -> list[dict[str, Any]]:
    if not path.exists():
        write_jsonl(path, [{**p, "schema_version": SCHEMA_VERSION} for p in build()])
    return read_jsonl(path)


def _optimize(cfg: SeasConfig, role: str, parent: str, pairs: list[dict[str, Any]], out: Path, seed: int) -> dict[str, Any] | None:
    """DPO ``parent`` on ``pairs`` into ``out``; returns the training stats (None if nothing to train)."""
    if is_complete(out):
        stats = out / "train_stats.json"
        return read_json(stats) if stats.exists() else None
    rcfg = cfg.redteam if role == "redteam" else cfg.target
    if not pairs:
        pointer(parent, out, "no preference pairs this iteration")
        return None
    return train("dpo", parent, rcfg.model, rcfg.dpo, pairs, out, seed)


def iteration_metrics(
    it: int, rows: list[dict[str, Any]], red_pairs: list[dict[str, Any]], tgt_pairs: list[dict[str, Any]],
    stats: dict[str, Any], timings: dict[str, float],
) -> dict[str, Any]:
    labels = [r["label"] for r in rows]
    asr = attack_success_rate(labels)
    decided = [1.0 if lab == "unsafe" else 0.0 for lab in labels if lab in ("safe", "unsafe")]
    ci = bootstrap_ci(decided, seed=it)
    counts = count_labels(labels)
    sources = [p.get("source", "safety") for p in tgt_pairs]

    def train_summary(s: dict[str, Any] | None) -> dict[str, Any] | None:
        if s is None:
            return None
        return {k: s.get(k) for k in ("rows", "steps", "train_loss", "first_loss", "final_loss", "reward_margin", "reward_margin_mean", "seconds")}

    return {
        "iteration": it,
        "target_asr": asr,
        "target_asr_ci95": list(ci) if ci else None,
        "seeds": len({r["seed_id"] for r in rows}),
        "prompts": len({r["prompt_id"] for r in rows}),
        "empty_prompts": int(timings.get("empty_prompts", 0)),
        "responses": len(rows),
        "labels": counts,
        "unknown": counts["unknown"],
        "redteam_pairs": len(red_pairs),
        "target_pairs": len(tgt_pairs),
        "target_pairs_by_source": {s: sources.count(s) for s in sorted(set(sources))},
        "train": {"redteam": train_summary(stats.get("redteam")), "target": train_summary(stats.get("target"))},
        "wall_time_s": {k: round(v, 2) for k, v in timings.items() if k != "empty_prompts"},
    }


def run(cfg: SeasConfig, output_dir: str | Path, force: bool = False) -> dict[str, Any]:
    """Run (or resume) the whole loop in ``output_dir``; returns the metrics written to metrics.json."""
    run_dir = Path(output_dir)
    with RunLock(run_dir):
        prepare(run_dir, cfg, force)
        pool = load_prompts(cfg.data.seeds, cfg.data.seeds_split)
        general = load_general(cfg.data.general)
        refusals = load_refusals(cfg.data.refusals)
        initialize(cfg, run_dir, pool, general)
        red_ref, tgt_ref = str(run_dir / "iter_0" / "redteam"), str(run_dir / "iter_0" / "target")
        metrics: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "iterations": []}
        for it in range(1, cfg.iterations + 1):
            d = run_dir / f"iter_{it}"
            d.mkdir(parents=True, exist_ok=True)
            timings = _timings(d)
            if not (d / "attack.jsonl").exists():
                judge_cfg = cfg.judge
                rows, t = attack(cfg, it, d, pool, red_ref, tgt_ref, lambda: make_judge(judge_cfg.name, **judge_cfg.options))
                timings.update(t)
                write_json(d / "timings.json", timings)
            rows = read_jsonl(d / "attack.jsonl")
            rng = random.Random(f"pairs-{cfg.seed}-{it}")
            red_pairs = _pairs(d / "redteam_pairs.jsonl", lambda: build_redteam_pairs(rows))

            def target_pairs() -> list[dict[str, Any]]:
                written = cfg.target.chosen == "written-refusal"
                safety = build_target_pairs(rows, rng, refusals if cfg.target.refusal_fallback or written else (),
                                            cfg.target.pairs_per_prompt, always_refusal=written)
                n_general = round(cfg.target.general_pairs_ratio * len(safety))
                return safety + build_general_pairs(general, refusals, n_general, rng)

            tgt_pairs = _pairs(d / "target_pairs.jsonl", target_pairs)
            stats: dict[str, Any] = {}
            for role, parent, pairs in (("redteam", red_ref, red_pairs), ("target", tgt_ref, tgt_pairs)):
                t0 = time.time()
                done = is_complete(d / role)
                stats[role] = _optimize(cfg, role, parent, pairs, d / role, cfg.seed + it)
                if not done:
                    timings[f"train_{role}"] = time.time() - t0
                    write_json(d / "timings.json", timings)
            metrics["iterations"].append(iteration_metrics(it, rows, red_pairs, tgt_pairs, stats, timings))
            write_json(run_dir / "metrics.json", metrics)
            red_ref, tgt_ref = str(d / "redteam"), str(d / "target")
        return metrics


def summary(metrics: dict[str, Any]) -> str:
    """A short table of what the loop did, for the end of ``seas run``."""
    lines = ["iter  target ASR (95% CI)      responses  unknown  red pairs  target pairs"]
    for m in metrics["iterations"]:
        asr = "n/a" if m["target_asr"] is None else f"{m['target_asr']:.3f}"
        ci = m["target_asr_ci95"]
        ci_s = f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
        lines.append(
            f"{m['iteration']:>4}  {asr:>6} {ci_s:<16} {m['responses']:>10}  {m['unknown']:>7}  "
            f"{m['redteam_pairs']:>9}  {m['target_pairs']:>12}"
        )
    return "\n".join(lines)
