"""seas benchmarks: each stage against a naive baseline and the machine's limit.

Usage::

    python benchmarks/run.py [--quick] [--only NAME ...]

Prints one JSON object on its last line and writes it, with a description of the
machine, to ``benchmarks/results/<date>-<quick|full>.json``. See BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


# ---------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_flops(hidden: int, inter: int, tokens: int = 256, reps: int = 20, dtype: str = "float32") -> float:
    """Dense matmul FLOP/s at the model's shapes, in the dtype generation runs in: the compute limit."""
    import torch

    dt = getattr(torch, dtype)
    a = torch.randn(tokens, hidden, dtype=dt)
    w1, w2 = torch.randn(hidden, inter, dtype=dt), torch.randn(inter, hidden, dtype=dt)
    for _ in range(3):
        (a @ w1) @ w2
    t = time.perf_counter()
    for _ in range(reps):
        (a @ w1) @ w2
    return reps * 2 * 2 * tokens * hidden * inter / (time.perf_counter() - t)


# ---------------------------------------------------------------------------- workloads


def bench_prompts(n: int) -> list[str]:
    from seas.data.loading import load_prompts

    rows = load_prompts("builtin", "test")
    random.Random(0).shuffle(rows)
    return [r["prompt"] for r in rows[:n]]


def bench_generation(quick: bool) -> dict[str, Any]:
    """seas's attack stage (batched, length-sorted) against one model.generate call per prompt."""
    import torch

    from seas.backends.hf import HFGenerator, render
    from seas.config import GenerationConfig
    from seas.judges import make_judge
    from seas.models import generation_dtype, load_for_inference

    n_prompts, m, new = (8, 4, 32) if quick else (24, 4, 64)
    prompts = [[{"role": "user", "content": p}] for p in bench_prompts(n_prompts)]
    settings = GenerationConfig(temperature=0.8, top_p=0.9, max_new_tokens=new)  # the default batch size
    dtype = generation_dtype(settings.dtype, "float32")  # seas's default on this machine
    gen = HFGenerator("embedded", dtype=dtype)
    judge = make_judge("embedded")
    judge.judge(["warm-up"], ["warm-up"])

    # naive: one generate() per prompt on the model as loaded by default (float32); then judge one by one
    tok, model = load_for_inference("embedded")
    t = time.perf_counter()
    naive_tokens = 0
    for p in prompts:
        text, _ = render(tok, p)
        enc = tok(text, return_tensors="pt", add_special_tokens=False)
        torch.manual_seed(0)
        out = model.generate(**enc, do_sample=True, temperature=0.8, top_p=0.9, max_new_tokens=new,
                             num_return_sequences=m, pad_token_id=tok.pad_token_id)
        new_ids = out[:, enc["input_ids"].shape[1]:]
        naive_tokens += int((new_ids != tok.pad_token_id).sum())
        for r in tok.batch_decode(new_ids, skip_special_tokens=True):
            judge.judge([text], [r])
    naive_s = time.perf_counter() - t

    t = time.perf_counter()
    outs = gen.generate(prompts, m, settings, seed=0, desc="bench")
    gen_s = time.perf_counter() - t
    flat_p = [p[0]["content"] for p, rs in zip(prompts, outs) for _ in rs]
    flat_r = [r for rs in outs for r in rs]
    t = time.perf_counter()
    judge.judge(flat_p, flat_r)
    judge_s = time.perf_counter() - t
    seas_s = gen_s + judge_s
    seas_tokens = sum(len(tok(r, add_special_tokens=False)["input_ids"]) for r in flat_r)

    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    limit = matmul_flops(cfg.hidden_size, cfg.intermediate_size, dtype=dtype)
    tokens_per_s = seas_tokens / gen_s
    n = len(flat_r)
    return {
        "responses": n,
        "max_new_tokens": new,
        "seas_dtype": dtype,
        "naive_dtype": "float32",
        "naive_responses_per_s": n / naive_s,
        "seas_responses_per_s": n / seas_s,
        "attack_speedup_vs_naive": naive_s / seas_s,
        "seas_generated_tokens_per_s": tokens_per_s,
        "naive_generated_tokens_per_s": naive_tokens / naive_s,
        "machine_matmul_flops": limit,
        "float32_matmul_flops": limit if dtype == "float32" else matmul_flops(cfg.hidden_size, cfg.intermediate_size),
        "model_params": params,
        "token_limit_per_s": limit / (2 * params),
        "generation_fraction_of_limit": tokens_per_s * 2 * params / limit,
        "judge_pairs_per_s": n / judge_s,
        "peak_rss_mb": peak_rss_mb(),
    }


def _pairs(n: int) -> list[dict[str, str]]:
    from seas.data.loading import load_general, load_refusals

    general, refusals = load_general(), load_refusals()
    prompts = bench_prompts(n)
    rng = random.Random(0)
    return [{"prompt": p, "chosen": rng.choice(refusals), "rejected": g["response"]}
            for p, g in zip(prompts, general)]


def _dpo_args(out: str) -> Any:
    from trl import DPOConfig

    return DPOConfig(output_dir=out, report_to="none", save_strategy="no", logging_steps=1,
                     per_device_train_batch_size=4, num_train_epochs=2, use_cpu=True)


def _dpo_side(side: str, n: int, out: str) -> tuple[float, list[float], float, float]:
    """One side of the DPO comparison: (set-up + training seconds, losses, wall seconds with
    loading and saving, peak RSS in MB). Each side runs in a process of its own (``_fresh``)."""
    from seas.config import ModelConfig, TrainConfig
    from seas.models import load_model, load_tokenizer
    from seas.stages.train import dpo_rows, train

    pairs = _pairs(n)
    args = _dpo_args(out)
    wall = time.perf_counter()
    if side == "trl":
        from datasets import Dataset
        from trl import DPOTrainer

        tok, model = load_tokenizer("embedded"), load_model("embedded")
        t = time.perf_counter()  # trainer set-up (tokenising) + training, as seas's side
        trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(dpo_rows(tok, pairs)),
                             processing_class=tok)
        trainer.train()
        seconds = time.perf_counter() - t
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        return seconds, losses, time.perf_counter() - wall, peak_rss_mb()
    if side == "full":  # the same math as TRL's default: full fine-tuning, its lr, schedule and seed
        scheduler = str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type))
        cfg = TrainConfig(learning_rate=args.learning_rate, lr_scheduler=scheduler, epochs=2, batch_size=4,
                          max_length=256, use_lora=False, activation_checkpointing=False)
    else:  # seas's demo setting, as configs/demo.yaml's target.dpo
        cfg = TrainConfig(learning_rate=1e-4, epochs=2, batch_size=4, max_length=256, use_lora=True,
                          activation_checkpointing=False)
    stats = train("dpo", "embedded", ModelConfig(), cfg, pairs, Path(out), seed=args.seed)
    # stats["seconds"]: trainer set-up (tokenising, reference log-probs) + training, as TRL's side;
    # model loading and saving are left out of both
    losses = [h["loss"] for h in stats["log_history"] if "loss" in h]
    return stats["seconds"], losses, time.perf_counter() - wall, peak_rss_mb()


def _fresh(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a new process, so that no run inherits another's warm state."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def bench_dpo(quick: bool) -> dict[str, Any]:
    """seas's optimize stage against TRL's DPOTrainer with default settings, same pairs.

    Each side runs in a fresh process. When TRL ran second in the process that had just run
    seas's training of the same shapes, its time moved between 16 and 26 s from run to run
    (26.5-28.3 s alone), with the state the first run left behind (BENCHMARKS.md)."""
    import shutil
    import tempfile

    n = 8 if quick else 24
    tmp = Path(tempfile.mkdtemp(prefix="seas-bench-"))
    try:
        runs = {side: _fresh(_dpo_side, side, n, str(tmp / side)) for side in ("full", "trl", "lora")}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    full_s, full_loss, full_wall, _ = runs["full"]
    trl_s, trl_loss, _, _ = runs["trl"]
    lora_s, lora_loss, lora_wall, _ = runs["lora"]
    return {
        "pairs": n,
        "seas_mixed_precision": _train_precision(),
        "trl_default_pairs_per_s": n / trl_s,
        "seas_pairs_per_s": n / full_s,
        "dpo_speedup_vs_trl_default": trl_s / full_s,
        "trl_default_loss_curve": trl_loss,
        "seas_loss_curve": full_loss,
        "final_loss_difference": full_loss[-1] - trl_loss[-1],
        "seas_seconds_with_load_and_save": full_wall,
        "seas_lora_pairs_per_s": n / lora_s,
        "dpo_lora_speedup_vs_trl_default": trl_s / lora_s,
        "seas_lora_loss_curve": lora_loss,
        "seas_lora_seconds_with_load_and_save": lora_wall,
        "peak_rss_mb": max(r[3] for r in runs.values()),
    }


def _train_precision() -> str:
    from seas.config import TrainConfig
    from seas.models.loading import fast_bf16

    p = TrainConfig().mixed_precision
    return ("bf16" if fast_bf16() else "no") if p == "auto" else p


def _fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares line: (slope, intercept)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return slope, my - slope * mx


def bench_scaling(quick: bool) -> dict[str, Any]:
    """One iteration's wall time at several seed counts, and linear fits of cost vs seeds.

    The attack (generation and judging) grows with the seeds; the DPO stages grow with the
    pairs, which the judge's labels decide, so a small iteration may have none to train on.
    Both parts are kept apart, with the pair counts, so that the fit can be read."""
    import shutil
    import tempfile

    from seas.config import load_config
    from seas.loop import run

    from seas.judges import make_judge

    sizes = [1, 2, 3, 4] if quick else [3, 6, 12, 24]
    rows = []
    make_judge("embedded")  # a first use fits the judge (minutes): not in the first size's attack
    init_dir = Path(tempfile.mkdtemp(prefix="seas-scale-init-"))  # R0/T0 are the same for every size: made once
    try:
        for s in sizes:
            cfg = load_config(HERE.parent / "configs" / "demo.yaml")
            cfg.iterations = 1
            cfg.seeds_per_iteration = s
            cfg.redteam.sft_examples = 8
            if quick:
                cfg.redteam.generation.max_new_tokens = cfg.target.generation.max_new_tokens = 32
                cfg.redteam.dpo.epochs = cfg.target.dpo.epochs = 1
            d = Path(tempfile.mkdtemp(prefix="seas-scale-"))
            try:
                if (init_dir / "iter_0").exists():
                    shutil.copytree(init_dir / "iter_0", d / "iter_0")
                t = time.perf_counter()
                it = run(cfg, d)["iterations"][0]
                total = time.perf_counter() - t
                if not (init_dir / "iter_0").exists():
                    total -= sum(json.loads((d / "iter_0" / "timings.json").read_text()).values())
                    shutil.copytree(d / "iter_0", init_dir / "iter_0")
                wall = it["wall_time_s"]
                rows.append({
                    "seeds": s, "seconds": total,
                    "attack_seconds": sum(v for k, v in wall.items() if not k.startswith("train_")),
                    "train_seconds": sum(v for k, v in wall.items() if k.startswith("train_")),
                    "redteam_pairs": it["redteam_pairs"], "target_pairs": it["target_pairs"],
                })
            finally:
                shutil.rmtree(d, ignore_errors=True)
    finally:
        shutil.rmtree(init_dir, ignore_errors=True)
    slope, fixed = _fit(sizes, [r["seconds"] for r in rows])
    attack_slope, attack_fixed = _fit(sizes, [r["attack_seconds"] for r in rows])
    return {"seeds": sizes, "iteration_seconds": [r["seconds"] for r in rows], "per_size": rows,
            "fit_seconds_per_seed": slope, "fit_fixed_seconds": fixed,
            "attack_fit_seconds_per_seed": attack_slope, "attack_fit_fixed_seconds": attack_fixed,
            "peak_rss_mb": peak_rss_mb()}


BENCHES: dict[str, Callable[[bool], dict[str, Any]]] = {
    "generation": bench_generation,
    "dpo": bench_dpo,
    "scaling": bench_scaling,
}


def _child(name: str, quick: bool) -> dict[str, Any]:
    """Run one benchmark in a fresh process, so that its peak RSS is its own."""
    import subprocess

    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name] + (["--quick"] if quick else [])
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark {name!r} failed (exit {proc.returncode}); its output is above")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: under 5 minutes on 2 cores")
    ap.add_argument("--only", nargs="*", choices=sorted(BENCHES), help="run only these benchmarks")
    ap.add_argument("--child", choices=sorted(BENCHES), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:  # one benchmark in this process; the parent reads the last line
        print(json.dumps(BENCHES[args.child](args.quick)))
        return 0
    result: dict[str, Any] = {"machine": machine(), "quick": args.quick, "date": time.strftime("%Y-%m-%dT%H:%M:%S")}
    t0 = time.perf_counter()
    for name in args.only or list(BENCHES):
        t = time.perf_counter()
        result[name] = _child(name, args.quick)
        result[name]["bench_seconds"] = round(time.perf_counter() - t, 1)
        print(f"{name}: {json.dumps(result[name])[:400]}", file=sys.stderr)
    result["total_seconds"] = round(time.perf_counter() - t0, 1)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{'quick' if args.quick else 'full'}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
