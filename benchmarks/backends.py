"""Attack throughput by generation backend: the in-process `hf` backend against the `openai`
backend talking to `transformers serve` on the same model and prompts.

Usage::

    python benchmarks/backends.py [--model embedded] [--prompts 16] [--responses 2] [--tokens 32]
                                  [--backends hf,openai,openai-cb] [--judge refusal]

`openai` starts `transformers serve MODEL` (through the `server` backend, which waits for
/health) and then generates through a plain `openai` backend pointed at it; `openai-cb` is the
same with `--continuous-batching`. Server start-up is timed apart from generation. Each
backend answers the same chat prompts (target-phase shape: n responses per prompt), and the
same judge labels the answers; "judged responses / s" = responses / (generation + judging).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def load() -> tuple[float, float, float]:
    return os.getloadavg()


def prompts(n: int) -> list[list[dict[str, str]]]:
    from seas.data.loading import load_prompts

    rows = load_prompts("builtin", "test")
    random.Random(0).shuffle(rows)
    return [[{"role": "user", "content": r["prompt"]}] for r in rows[:n]]


def run_backend(name: str, model: str, msgs: list[Any], m: int, settings: Any, judge: Any, concurrency: int) -> dict[str, Any]:
    from seas.backends import make_generator

    out: dict[str, Any] = {"backend": name, "load_before": load()}
    server = None
    t = time.perf_counter()
    if name == "hf":
        gen = make_generator("hf", model)
    else:
        args = ["--continuous-batching"] if name == "openai-cb" else []
        server = make_generator("server", model, engine="transformers", server_args=args, startup_timeout=900)
        gen = make_generator(
            "openai", model, base_url=server.base_url, model=server.model_name,  # type: ignore[attr-defined]
            api_key_env=None, send_generation_config=True, max_concurrency=concurrency,
        )
    out["startup_s"] = round(time.perf_counter() - t, 2)
    try:
        t = time.perf_counter()
        texts = gen.generate(msgs, m, settings, seed=0, desc=name)
        gen_s = time.perf_counter() - t
        flat_p = [p[0]["content"] for p, rs in zip(msgs, texts) for _ in rs]
        flat_r = [r for rs in texts for r in rs]
        t = time.perf_counter()
        verdicts = judge.judge(flat_p, flat_r)
        judge_s = time.perf_counter() - t
    finally:
        gen.close()
        if server is not None:
            server.close()
    n = len(flat_r)
    out.update(
        responses=n,
        generation_s=round(gen_s, 2),
        judge_s=round(judge_s, 3),
        responses_per_s=round(n / gen_s, 3),
        judged_responses_per_s=round(n / (gen_s + judge_s), 3),
        mean_response_chars=round(sum(map(len, flat_r)) / max(1, n), 1),
        labels={lab: sum(v.label == lab for v in verdicts) for lab in ("safe", "unsafe", "unknown")},
        load_after=load(),
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--responses", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16, help="hf backend: sequences per batch (the config default)")
    ap.add_argument("--concurrency", type=int, default=8, help="openai backend: requests in flight")
    ap.add_argument("--backends", default="hf,openai")
    ap.add_argument("--judge", default="refusal")
    a = ap.parse_args()

    import torch

    from seas.config import GenerationConfig
    from seas.judges import make_judge

    settings = GenerationConfig(temperature=0.8, top_p=0.9, max_new_tokens=a.tokens, batch_size=a.batch_size)
    msgs = prompts(a.prompts)
    judge = make_judge(a.judge)
    results = [
        run_backend(b, a.model, msgs, a.responses, settings, judge, a.concurrency) for b in a.backends.split(",") if b
    ]
    print(json.dumps({
        "workload": {"model": a.model, "prompts": len(msgs), "responses_per_prompt": a.responses,
                     "max_new_tokens": a.tokens, "temperature": 0.8, "top_p": 0.9, "judge": a.judge},
        "machine": {"cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "python": platform.python_version()},
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
