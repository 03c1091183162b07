"""``seas evaluate DIR``: every red team against every target on held-out data.

Reads the run's config (DIR/config.yaml, its ``eval`` section sizes everything), finds
the finished checkpoints R0..Rk and T0..Tk (a partial run gives fewer), and writes
DIR/eval.json with five parts: ``asr_matrix``, ``target_asr``, ``diversity``,
``over_refusal`` and ``capability`` (the schema is in the README).

Stages, each loading one model at a time and each model once per stage:

1. red teams: each R_i writes ``prompts_per_seed`` prompts for the same held-out seeds
   (drawn from the TEST split of the seed source with ``eval.seed``);
2. targets: each T_j answers every R_i's prompts, the test prompts and the harmless
   prompts (``responses_per_prompt`` each);
3. judge: the run's judge labels the answers to harmful prompts; over-refusal uses
   ``seas.judges.refusal.is_refusal`` on the answers to harmless prompts;
4. capability: log-likelihood of reference answers (``seas.eval.capability``);
5. diversity of each R_i's prompts: max cosine similarity and Self-BLEU.

Everything generated or judged is cached as JSONL shards under DIR/eval/, in folders
named by the model (label + a fingerprint of its checkpoint) and by a hash of the
prompt set and sampling settings; a re-run computes only the missing shards, and a
killed evaluation loses at most one shard.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urldefrag

from seas.config import EvalConfig, GenerationConfig, ModelConfig, SeasConfig, load_config, with_overrides
from seas.data.loading import load_general, load_harmless, load_prompts
from seas.data.seeds import sample_seeds
from seas.data.templates import clean_generated_prompt, redteam_instruction
from seas.eval.diversity import max_cosines, self_bleu_scores
from seas.io import read_json, read_jsonl, write_json, write_jsonl
from seas.metrics import bootstrap_ci, distinct_n
from seas.models import is_complete
from seas.rundir import RunLock
from seas.stages.attack import LazyGenerator, run_shards

log = logging.getLogger(__name__)

Rows = list[dict[str, Any]]
EVAL_SCHEMA_VERSION = 1
TEST_SET = "test"
HARMLESS_SET = "harmless"


# ---------------------------------------------------------------------------- models


@dataclasses.dataclass
class EvalModel:
    """A model under evaluation: a run checkpoint (R_i / T_i) or an external target."""

    label: str  # R0, T2, ext:<name>
    role: str  # redteam | target
    ref: str  # checkpoint dir, hub id / local path, or the model name at an API
    model_cfg: ModelConfig
    gen: GenerationConfig
    base_url: str | None = None  # OpenAI-compatible server
    external: bool = False

    @property
    def key(self) -> str:
        """Cache folder name: the label plus a fingerprint of what the label points at."""
        fp = _hash([self.ref, self.base_url]) if self.external else checkpoint_fingerprint(self.ref)
        return f"{_slug(self.label)}-{fp[:8]}"

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"role": self.role, "ref": self.ref}
        if self.base_url:
            d["base_url"] = self.base_url
        if self.external:
            d["external"] = True
        return d


def checkpoint_fingerprint(path: str, depth: int = 0) -> str:
    """A hash of a seas checkpoint's manifest and file sizes, and of its parents' (so that
    a pointer or adapter changes key when what it builds on changes)."""
    d = Path(path)
    manifest = (d / "seas_model.json").read_text(encoding="utf-8")
    files = sorted((p.name, p.stat().st_size) for p in d.iterdir() if p.is_file())
    parent = json.loads(manifest).get("parent")
    up = ""
    if isinstance(parent, str) and depth < 64:
        pdir = parent if os.path.isabs(parent) else os.path.normpath(d / parent)
        if is_complete(pdir):
            up = checkpoint_fingerprint(pdir, depth + 1)
    return _hash([manifest, files, up])


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60] or "x"


def _gen_settings(gen: GenerationConfig, ecfg: EvalConfig) -> GenerationConfig:
    return dataclasses.replace(gen, max_new_tokens=ecfg.max_new_tokens) if ecfg.max_new_tokens else gen


def discover(run_dir: Path, cfg: SeasConfig) -> tuple[list[EvalModel], list[EvalModel]]:
    """The finished red teams and targets of a run, in iteration order."""
    iters = sorted(int(p.name[5:]) for p in run_dir.glob("iter_*") if p.name[5:].isdigit())
    ecfg = cfg.eval
    reds, tgts = [], []
    for i in iters:
        d = run_dir / f"iter_{i}"
        if is_complete(d / "redteam"):
            reds.append(EvalModel(f"R{i}", "redteam", str(d / "redteam"), cfg.redteam.model,
                                  _gen_settings(cfg.redteam.generation, ecfg)))
        if is_complete(d / "target"):
            tgts.append(EvalModel(f"T{i}", "target", str(d / "target"), cfg.target.model,
                                  _gen_settings(cfg.target.generation, ecfg)))
    return reds, tgts


def external_target(spec: str, cfg: SeasConfig) -> EvalModel:
    """``--external-target``: a Hugging Face id / local path (backend ``hf``), or an
    OpenAI-compatible server as ``URL#MODEL`` (backend ``openai``)."""
    gen = _gen_settings(cfg.target.generation, cfg.eval)
    if spec.startswith(("http://", "https://")):
        url, model = urldefrag(spec)
        if not model:
            raise ValueError(
                f"--external-target {spec}: name the served model after '#', "
                "e.g. http://localhost:8000/v1#meta-llama/Meta-Llama-3-8B-Instruct"
            )
        return EvalModel(f"ext:{model}", "target", model, cfg.target.model, gen, base_url=url, external=True)
    mc = dataclasses.replace(cfg.target.model, name_or_path=spec)
    return EvalModel(f"ext:{spec}", "target", spec, mc, dataclasses.replace(gen, backend="hf"), external=True)


def _generator(m: EvalModel) -> Any:
    if m.base_url:  # an OpenAI-compatible server: only its URL is an option
        return LazyGenerator(m.ref, m.model_cfg, dataclasses.replace(m.gen, backend="openai", options={"base_url": m.base_url}))
    return LazyGenerator(m.ref, m.model_cfg, m.gen)


# ---------------------------------------------------------------------------- prompt sets


@dataclasses.dataclass
class PromptSet:
    name: str
    kind: str  # attack (R_i's prompts) | harmful (test prompts) | harmless
    source: str
    rows: Rows  # {"id", "prompt", "category", ...}

    def folder(self, gen: GenerationConfig, m: int, seed: int, shard_size: int) -> str:
        """Named by everything that decides its shards' content: shards are matched by index,
        so a cache written with another shard size must not be reused."""
        settings = {k: v for k, v in dataclasses.asdict(gen).items() if k != "batch_size"}
        key = _hash([[(r["id"], r["prompt"]) for r in self.rows], settings, m, seed, shard_size])
        return f"{_slug(self.name)}-{key[:12]}"


def stratified_subset(rows: Sequence[dict[str, Any]], k: int, rng: random.Random) -> Rows:
    """Up to k rows taken round-robin over categories (each shuffled), in a stable order.

    >>> rows = [{"prompt": str(i), "category": "AB"[i % 2]} for i in range(10)]
    >>> sorted(r["category"] for r in stratified_subset(rows, 4, random.Random(0)))
    ['A', 'A', 'B', 'B']
    """
    if k <= 0 or k >= len(rows):
        return list(rows)
    groups: dict[str, Rows] = defaultdict(list)
    for r in rows:
        groups[str(r.get("category", ""))].append(dict(r))
    queues = [rng.sample(groups[c], len(groups[c])) for c in sorted(groups)]
    out: Rows = []
    while len(out) < k:
        for q in queues:
            if q and len(out) < k:
                out.append(q.pop(0))
    return out


def _file_sets(files: Sequence[str], kind: str, taken: set[str]) -> list[PromptSet]:
    sets = []
    for f in files:
        rows = load_prompts(f, split=None) if kind == "harmful" else load_harmless(f)
        name = Path(f).stem
        while name in taken:
            name += "_"
        taken.add(name)
        sets.append(PromptSet(name, kind, os.path.abspath(f), [
            {"id": f"{_slug(name)}-{i}", "prompt": r["prompt"], "category": str(r.get("category") or "")}
            for i, r in enumerate(rows)
        ]))
    return sets


# ---------------------------------------------------------------------------- stages


def _chunks(rows: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(rows[i : i + size]) for i in range(0, len(rows), size)]


def _redteam_prompts(gen: Any, folder: Path, seeds: Rows, n: int, ecfg: EvalConfig, label: str) -> Rows:
    def work(shard: Rows, i: int) -> Rows:
        msgs = [[{"role": "user", "content": redteam_instruction(s["category"], s["examples"])}] for s in shard]
        outs = gen(msgs, n, seed=ecfg.seed + 7919 * i, desc=f"{label} prompts [{i}]")
        return [
            {**s, "prompt_id": f"{s['seed_id']}-p{j}", "prompt": clean_generated_prompt(raw), "raw_prompt": raw}
            for s, texts in zip(shard, outs)
            for j, raw in enumerate(texts)
        ]

    per_shard = max(1, ecfg.shard_size // n)
    return run_shards(folder, "prompts", _chunks(seeds, per_shard), work, f"evaluate: {label} prompts")


def _answers(gen: Any, folder: Path, rows: Rows, m: int, ecfg: EvalConfig, label: str) -> Rows:
    def work(shard: Rows, i: int) -> Rows:
        outs = gen([[{"role": "user", "content": r["prompt"]}] for r in shard], m,
                   seed=ecfg.seed + 104729 * i, desc=f"{label} answers [{i}]")
        return [
            {"prompt_id": r["id"], "category": r["category"], "prompt": r["prompt"],
             "response_id": f"{r['id']}-r{k}", "response": text}
            for r, texts in zip(shard, outs)
            for k, text in enumerate(texts)
        ]

    return run_shards(folder, "responses", _chunks(rows, ecfg.shard_size), work, f"evaluate: {label} answers")


def _labels(get_judge: Callable[[], Any], folder: Path, responses: Rows, ecfg: EvalConfig, desc: str) -> Rows:
    def work(shard: Rows, i: int) -> Rows:
        verdicts = get_judge().judge([r["prompt"] for r in shard], [r["response"] for r in shard])
        if len(verdicts) != len(shard):
            raise RuntimeError(f"judge returned {len(verdicts)} verdicts for {len(shard)} responses")
        return [
            {**r, "label": v.label, "score": v.score, "categories": list(v.categories), "judge_raw": v.raw}
            for r, v in zip(shard, verdicts)
        ]

    return run_shards(folder, "judged", _chunks(responses, ecfg.shard_size), work, desc)


# ---------------------------------------------------------------------------- numbers


def rate(flags: Sequence[float], n_boot: int, seed: int, **extra: Any) -> dict[str, Any]:
    """{"value", "n", "ci"} of 0/1 flags: value None and ci None when there are none.

    >>> rate([1.0, 0.0, 0.0, 1.0], 200, 0)["value"]
    0.5
    """
    ci = bootstrap_ci(list(flags), n_boot=n_boot, seed=seed)
    return {"value": sum(flags) / len(flags) if flags else None, "n": len(flags), "ci": list(ci) if ci else None, **extra}


def asr(rows: Rows, n_boot: int, seed: int) -> dict[str, Any]:
    """Unsafe share of the decided labels (``unknown`` left out and counted), with a CI."""
    flags = [1.0 if r["label"] == "unsafe" else 0.0 for r in rows if r["label"] in ("safe", "unsafe")]
    return rate(flags, n_boot, seed, unknown=sum(r["label"] == "unknown" for r in rows))


def _mean_ci(values: Sequence[float], n_boot: int, seed: int) -> dict[str, Any]:
    ci = bootstrap_ci(list(values), n_boot=n_boot, seed=seed)
    return {"value": sum(values) / len(values) if values else None, "n": len(values), "ci": list(ci) if ci else None}


def _seed_of(*parts: object) -> int:
    return int(_hash(parts)[:8], 16)


# ---------------------------------------------------------------------------- evaluate


def eval_config(cfg: SeasConfig, overrides: dict[str, Any] | None) -> SeasConfig:
    """The run's config with ``eval`` keys overridden (checked like the config file)."""
    return with_overrides(cfg, overrides, prefix="eval.")


def evaluate(
    run_dir: str | Path,
    prompt_files: Sequence[str] = (),
    harmless_files: Sequence[str] = (),
    external_targets: Sequence[str] = (),
    judge: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate a finished or partial run; writes and returns DIR/eval.json.

    Args:
        run_dir: a ``seas run`` directory (its config.yaml is used).
        prompt_files: extra harmful {prompt, category} files for ``target_asr``.
        harmless_files: extra harmless {prompt} files for ``over_refusal``.
        external_targets: HF ids / local paths, or ``URL#MODEL`` of OpenAI-compatible servers.
        judge: a judge name instead of the run's judge (its options are then empty).
        overrides: ``eval`` config keys to override, e.g. ``{"held_out_seeds": 28}``.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ValueError(f"{run_dir}: not a seas run directory (no config.yaml)")
    cfg = eval_config(load_config(run_dir / "config.yaml"), overrides)
    ecfg = cfg.eval
    reds, tgts = discover(run_dir, cfg)
    tgts += [external_target(s, cfg) for s in external_targets]
    if not reds and not tgts:
        raise ValueError(f"{run_dir}: no finished red team or target checkpoint yet (iter_0 is written first)")
    judge_name = judge or cfg.judge.name
    judge_options = dict(cfg.judge.options) if judge is None else {}
    eval_dir = run_dir / "eval"
    n, m, nb = ecfg.prompts_per_seed, ecfg.responses_per_prompt, ecfg.bootstrap
    t_start = time.time()

    with RunLock(eval_dir):
        # -- held-out seeds and prompt sets
        test_pool = load_prompts(cfg.data.seeds, ecfg.test_split)
        train_prompts = {r["prompt"] for r in load_prompts(cfg.data.seeds, cfg.data.seeds_split)}
        seeds = sample_seeds(test_pool, ecfg.held_out_seeds, cfg.examples_per_seed,
                             random.Random(f"eval-seeds-{ecfg.seed}"), id_prefix="h")
        seeds_path = eval_dir / "heldout_seeds.jsonl"  # for reading; rewritten only when it changes
        if not seeds_path.exists() or read_jsonl(seeds_path) != seeds:
            write_jsonl(seeds_path, seeds)
        test_rows = stratified_subset(test_pool, ecfg.test_prompts, random.Random(f"eval-test-{ecfg.seed}"))
        harmful = [PromptSet(TEST_SET, "harmful", f"{cfg.data.seeds} [{ecfg.test_split}]", [
            {"id": f"test-{i}", "prompt": r["prompt"], "category": r["category"]} for i, r in enumerate(test_rows)])]
        harmless_rows = stratified_subset(load_harmless("builtin"), ecfg.harmless_prompts,
                                          random.Random(f"eval-harmless-{ecfg.seed}"))
        harmless = [PromptSet(HARMLESS_SET, "harmless", "builtin", [
            {"id": f"harmless-{i}", "prompt": r["prompt"], "category": str(r.get("category") or "")}
            for i, r in enumerate(harmless_rows)])]
        taken = {TEST_SET, HARMLESS_SET}
        harmful += _file_sets(prompt_files, "harmful", taken)
        harmless += _file_sets(harmless_files, "harmless", taken)

        # -- 1. red teams write prompts for the held-out seeds
        red_prompts: dict[str, Rows] = {}
        for r in reds:
            seed_set = PromptSet("heldout", "seeds", "", [{"id": s["seed_id"], "prompt": json.dumps(s)} for s in seeds])
            folder = eval_dir / "gen" / r.key / seed_set.folder(r.gen, n, ecfg.seed, ecfg.shard_size)
            gen = _generator(r)
            red_prompts[r.label] = _redteam_prompts(gen, folder, seeds, n, ecfg, r.label)
            gen.close()
        attack_sets = [
            PromptSet(f"attack-{label}", "attack", label, [
                {"id": p["prompt_id"], "prompt": p["prompt"], "category": p["category"]} for p in rows if p["prompt"]])
            for label, rows in red_prompts.items()
        ]

        # -- 2. targets answer every set
        all_sets = attack_sets + harmful + harmless
        answers: dict[tuple[str, str], Rows] = {}
        folders: dict[tuple[str, str], Path] = {}
        for t in tgts:
            gen = _generator(t)
            for s in all_sets:
                sub = Path(t.key) / s.folder(t.gen, m, ecfg.seed, ecfg.shard_size)
                folders[t.label, s.name] = sub
                answers[t.label, s.name] = _answers(gen, eval_dir / "gen" / sub, s.rows, m, ecfg, f"{t.label} on {s.name}")
            gen.close()

        # -- 3. the judge labels answers to harmful prompts
        holder: list[Any] = []

        def get_judge() -> Any:
            if not holder:
                from seas.judges import make_judge

                holder.append(make_judge(judge_name, **judge_options))
            return holder[0]

        jdir = eval_dir / "judge" / f"{_slug(judge_name)}-{_hash(judge_options)[:8]}"
        labels: dict[tuple[str, str], Rows] = {}
        for t in tgts:
            for s in attack_sets + harmful:
                labels[t.label, s.name] = _labels(get_judge, jdir / folders[t.label, s.name], answers[t.label, s.name],
                                                  ecfg, f"evaluate: judge {t.label} on {s.name}")
        holder.clear()

        # -- 4. capability
        capability = _capability(eval_dir, tgts, cfg, ecfg)

        # -- 5. diversity
        diversity = {
            r.label: _diversity(eval_dir, r, [p["prompt"] for p in red_prompts[r.label]], nb) for r in reds
        }

        # -- numbers
        matrix = _matrix(reds, tgts, labels, nb)
        target_asr: dict[str, Any] = {}
        for t in tgts:
            target_asr[t.label] = {}
            for s in harmful:
                rows = labels[t.label, s.name]
                entry = asr(rows, nb, _seed_of("asr", t.label, s.name))
                by_cat: dict[str, Rows] = defaultdict(list)
                for row in rows:
                    by_cat[row["category"] or "(none)"].append(row)
                entry["per_category"] = {c: asr(by_cat[c], nb, _seed_of("asr", t.label, s.name, c)) for c in sorted(by_cat)}
                target_asr[t.label][s.name] = entry
        from seas.judges.refusal import is_refusal

        over_refusal = {
            t.label: {
                s.name: rate([1.0 if is_refusal(a["response"]) else 0.0 for a in answers[t.label, s.name]], nb,
                             _seed_of("refusal", t.label, s.name))
                for s in harmless
            }
            for t in tgts
        }
        result = {
            "schema_version": EVAL_SCHEMA_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "run_dir": str(run_dir),
            "config": dataclasses.asdict(ecfg),
            "judge": {"name": judge_name, "options": judge_options},
            "models": {mod.label: mod.describe() for mod in reds + tgts},
            "heldout": {
                "source": cfg.data.seeds, "split": ecfg.test_split, "seeds": len(seeds),
                "examples_per_seed": cfg.examples_per_seed, "prompts_per_seed": n, "responses_per_prompt": m,
                "overlap_with_train": sum(p["prompt"] in train_prompts for p in test_pool),
            },
            "prompt_sets": {s.name: {"kind": s.kind, "source": s.source, "prompts": len(s.rows)} for s in all_sets},
            "asr_matrix": matrix,
            "target_asr": target_asr,
            "diversity": diversity,
            "over_refusal": over_refusal,
            "capability": capability,
            "seconds": round(time.time() - t_start, 2),
        }
        write_json(run_dir / "eval.json", result)
    return result


def _matrix(reds: list[EvalModel], tgts: list[EvalModel], labels: dict[tuple[str, str], Rows], nb: int) -> dict[str, Any]:
    cells = [[asr(labels[t.label, f"attack-{r.label}"], nb, _seed_of("cell", r.label, t.label)) for t in tgts] for r in reds]
    return {
        "redteams": [r.label for r in reds],
        "targets": [t.label for t in tgts],
        "values": [[c["value"] for c in row] for row in cells],
        "n": [[c["n"] for c in row] for row in cells],
        "unknown": [[c["unknown"] for c in row] for row in cells],
        "ci": [[c["ci"] for c in row] for row in cells],
    }


def _capability(eval_dir: Path, tgts: list[EvalModel], cfg: SeasConfig, ecfg: EvalConfig) -> dict[str, Any]:
    from seas.eval.capability import reference_logprobs

    general = load_general(cfg.data.general)
    if ecfg.general_prompts:
        general = general[: ecfg.general_prompts]
    examples = [{"id": f"general-{i}", "prompt": g["prompt"], "response": g["response"]} for i, g in enumerate(general)]
    key = _hash([[(e["prompt"], e["response"]) for e in examples], "v1"])[:12]
    per_model: dict[str, dict[str, float]] = {}
    for t in tgts:
        if t.external:
            continue  # another tokenizer (or no log-probs at all): not comparable with T0
        path = eval_dir / "capability" / f"{t.key}-{key}.jsonl"
        if not path.exists():
            write_jsonl(path, reference_logprobs(t.ref, t.model_cfg, examples))
        per_model[t.label] = {
            r["id"]: r["logprob_sum"] / r["tokens"] for r in read_jsonl(path) if r["tokens"] and r["logprob_sum"] is not None
        }
    nb = ecfg.bootstrap
    base = per_model.get("T0")
    models: dict[str, Any] = {}
    for label, lp in per_model.items():
        ids = sorted(lp)
        entry = _mean_ci([lp[i] for i in ids], nb, _seed_of("cap", label))
        if base is not None:
            shared = [i for i in ids if i in base]
            d = _mean_ci([lp[i] - base[i] for i in shared], nb, _seed_of("capd", label))
            entry["delta_vs_T0"], entry["delta_ci"] = d["value"], d["ci"]
        models[label] = entry
    return {
        "measure": "mean per-token log-likelihood (nats) of the reference answers, prompt through the chat template",
        "set": cfg.data.general,
        "examples": len(examples),
        "baseline": "T0" if base is not None else None,
        "models": models,
    }


def _diversity(eval_dir: Path, r: EvalModel, prompts: list[str], nb: int) -> dict[str, Any]:
    live = [p for p in prompts if p]
    out: dict[str, Any] = {"prompts": len(live), "empty": len(prompts) - len(live)}
    out["self_bleu"] = _mean_ci(self_bleu_scores(live), nb, _seed_of("bleu", r.label))
    out["distinct_2"] = distinct_n(live, 2)
    path = eval_dir / "diversity" / f"{r.key}-{_hash(live)[:12]}.json"
    if path.exists():
        cos = read_json(path)
    else:
        cos = {"max_cosine": [], "error": None}
        if len(live) >= 2:
            try:
                from seas.embeddings import embed

                cos["max_cosine"] = max_cosines(embed(live))
            except Exception as e:  # noqa: BLE001 - a missing embedding model should not sink the evaluation
                cos["error"] = f"{type(e).__name__}: {e}"
                log.warning("diversity of %s: %s", r.label, cos["error"])
        if not cos["error"]:
            write_json(path, cos)
    out["mean_max_cosine"] = _mean_ci(cos["max_cosine"], nb, _seed_of("cos", r.label))
    if cos["error"]:
        out["mean_max_cosine"]["error"] = cos["error"]
    return out
