"""The attack stage: red team writes prompts, target answers, judge labels.

Work is cut into shards of seeds; each phase writes one file per shard, atomically,
and skips shards already on disk. A kill loses at most the shard in progress and a
re-run never duplicates a row. Models are loaded once per phase, and only if that
phase has work left, so that only one model is in memory at a time.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from seas.config import GenerationConfig, ModelConfig, SeasConfig
from seas.data.seeds import sample_seeds
from seas.data.templates import clean_generated_prompt, redteam_instruction
from seas.io import SCHEMA_VERSION, read_jsonl, write_jsonl
from seas.judges import Judge

Rows = list[dict[str, Any]]


def run_shards(
    folder: Path, phase: str, shards: Sequence[Rows], work: Callable[[Rows, int], Rows], desc: str
) -> Rows:
    """Apply ``work`` to every shard whose output file is missing; return all rows in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{phase}-{i:05d}.jsonl" for i in range(len(shards))]
    todo = [i for i, p in enumerate(paths) if not p.exists()]
    if todo:
        for i in tqdm(todo, desc=desc, unit="shard"):
            write_jsonl(paths[i], work(shards[i], i))
    return [row for p in paths for row in read_jsonl(p)]


class LazyGenerator:
    """Loads the backend on first use, so a phase that is already done loads nothing."""

    def __init__(self, model_ref: str, model_cfg: ModelConfig, gen: GenerationConfig) -> None:
        self.model_ref, self.model_cfg, self.gen = model_ref, model_cfg, gen
        self._g: Any = None

    def __call__(self, prompts: Sequence[Any], n: int, seed: int, desc: str) -> list[list[str]]:
        if self._g is None:
            from seas.backends import make_generator
            from seas.models import generation_dtype

            self._g = make_generator(
                self.gen.backend,
                self.model_ref,
                dtype=generation_dtype(self.gen.dtype, self.model_cfg.dtype),
                trust_remote_code=self.model_cfg.trust_remote_code,
                **self.gen.options,
            )
        return self._g.generate(prompts, n, self.gen, seed, desc)  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._g is not None:
            self._g.close()
            self._g = None


def draw_seeds(cfg: SeasConfig, pool: Sequence[dict[str, Any]], iteration: int) -> Rows:
    """The iteration's seeds; a pure function of (config seed, iteration), so resumes agree."""
    rng = random.Random(f"seeds-{cfg.seed}-{iteration}")
    return sample_seeds(pool, cfg.seeds_per_iteration, cfg.examples_per_seed, rng, id_prefix=f"i{iteration}-s")


def attack(
    cfg: SeasConfig,
    iteration: int,
    folder: Path,
    pool: Sequence[dict[str, Any]],
    redteam_ref: str,
    target_ref: str,
    judge_factory: Callable[[], Judge],
) -> tuple[Rows, dict[str, float]]:
    """Run (or resume) one attack; returns the judged rows and seconds per phase."""
    parts = folder / "parts"
    seeds = draw_seeds(cfg, pool, iteration)
    shards = [seeds[i : i + cfg.shard_size] for i in range(0, len(seeds), cfg.shard_size)]
    timings: dict[str, float] = {}
    n, m = cfg.redteam.prompts_per_seed, cfg.target.responses_per_prompt

    # -- red team: n prompts per seed
    red = LazyGenerator(redteam_ref, cfg.redteam.model, cfg.redteam.generation)

    def write_prompts(shard: Rows, i: int) -> Rows:
        msgs = [[{"role": "user", "content": redteam_instruction(s["category"], s["examples"])}] for s in shard]
        outs = red(msgs, n, seed=cfg.seed + 7919 * iteration + i, desc=f"red team prompts [{i}]")
        return [
            {**s, "prompt_id": f"{s['seed_id']}-p{j}", "prompt": clean_generated_prompt(raw), "raw_prompt": raw}
            for s, gens in zip(shard, outs)
            for j, raw in enumerate(gens)
        ]

    t = time.time()
    try:
        prompts = run_shards(parts, "prompts", shards, write_prompts, "attack: red team")
    finally:  # a served model's server must stop even when the phase fails
        red.close()
    timings["redteam_generation"] = time.time() - t

    # -- target: m responses per (non-empty) prompt
    tgt = LazyGenerator(target_ref, cfg.target.model, cfg.target.generation)

    def write_responses(shard: Rows, i: int) -> Rows:
        live = [p for p in shard if p["prompt"]]
        outs = tgt(
            [[{"role": "user", "content": p["prompt"]}] for p in live],
            m,
            seed=cfg.seed + 104729 * iteration + i,
            desc=f"target responses [{i}]",
        )
        return [
            {**p, "response_id": f"{p['prompt_id']}-r{k}", "response": r}
            for p, rs in zip(live, outs)
            for k, r in enumerate(rs)
        ]

    t = time.time()
    try:
        responses = run_shards(parts, "responses", _regroup(prompts, shards), write_responses, "attack: target")
    finally:
        tgt.close()
    timings["target_generation"] = time.time() - t

    # -- judge every response
    judge: list[Judge] = []

    def write_labels(shard: Rows, i: int) -> Rows:
        if not judge:
            judge.append(judge_factory())
        verdicts = judge[0].judge([r["prompt"] for r in shard], [r["response"] for r in shard])
        if len(verdicts) != len(shard):
            raise RuntimeError(f"judge returned {len(verdicts)} verdicts for {len(shard)} responses")
        return [
            {
                "schema_version": SCHEMA_VERSION,
                "iteration": iteration,
                "seed_id": r["seed_id"],
                "category": r["category"],
                "examples": r["examples"],
                "prompt_id": r["prompt_id"],
                "prompt": r["prompt"],
                "response_id": r["response_id"],
                "response": r["response"],
                "label": v.label,
                "score": v.score,
                "categories": list(v.categories),
                "judge_raw": v.raw,
            }
            for r, v in zip(shard, verdicts)
        ]

    t = time.time()
    rows = run_shards(parts, "judged", _regroup(responses, shards), write_labels, "attack: judge")
    timings["judge"] = time.time() - t
    empty = sum(1 for p in prompts if not p["prompt"])
    write_jsonl(folder / "attack.jsonl", rows)
    write_jsonl(folder / "prompts.jsonl", prompts)
    return rows, {**timings, "empty_prompts": float(empty)}


def _regroup(rows: Rows, shards: Sequence[Rows]) -> list[Rows]:
    """Split rows back into the seed shards they came from (by seed id)."""
    index = {s["seed_id"]: k for k, sh in enumerate(shards) for s in sh}
    out: list[Rows] = [[] for _ in shards]
    for r in rows:
        out[index[r["seed_id"]]].append(r)
    return out

