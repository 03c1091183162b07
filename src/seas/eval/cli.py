"""``seas evaluate``: registered in seas.cli through COMMAND_MODULES.

Examples::

    seas evaluate runs/demo
    seas evaluate runs/demo --prompts beavertails.jsonl --harmless xstest.jsonl
    seas evaluate runs/demo --external-target HuggingFaceTB/SmolLM2-360M-Instruct
    seas evaluate runs/demo --external-target http://localhost:8000/v1#meta-llama/Meta-Llama-3-8B-Instruct
    seas evaluate runs/demo --set held_out_seeds=28 --set responses_per_prompt=2
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from seas.cli import key_values


def _overrides(items: list[str]) -> dict[str, Any]:
    pairs = key_values(items, "--set", "held_out_seeds=28")
    return {key.removeprefix("eval."): value for key, value in pairs.items()}


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from seas.eval.evaluate import evaluate
    from seas.eval.summary import eval_summary

    result = evaluate(
        args.dir,
        prompt_files=args.prompts,
        harmless_files=args.harmless,
        external_targets=args.external_target,
        judge=args.judge,
        overrides=_overrides(args.set),
    )
    print(eval_summary(result))
    print(f"\neval: {os.path.join(args.dir, 'eval.json')}   (HTML: seas report {args.dir})")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate every red team against every target on held-out data (writes DIR/eval.json)",
        description="Evaluate a finished or partial run with its own config (DIR/config.yaml, section `eval`): "
        "an ASR matrix of every red team R_i against every target T_j on the same held-out seeds (test split), "
        "each target's ASR on test prompts (overall and per category), its refusal rate on harmless prompts, "
        "how much general ability it keeps versus T0, and the diversity of each red team's prompts. "
        "Every rate has a bootstrap 95% CI. Generations and judgements are cached under DIR/eval/; "
        "re-running computes only what is missing.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  seas evaluate runs/demo\n"
        "  seas evaluate runs/demo --prompts extra_harmful.jsonl --harmless xstest.jsonl\n"
        "  seas evaluate runs/demo --external-target HuggingFaceTB/SmolLM2-360M-Instruct\n"
        "  seas evaluate runs/demo --external-target http://localhost:8000/v1#my-model\n"
        "  seas evaluate runs/demo --set held_out_seeds=28 --set responses_per_prompt=2",
    )
    p.add_argument("dir", metavar="DIR", help="a seas run directory")
    p.add_argument("--prompts", nargs="+", action="extend", default=[], metavar="FILE",
                   help="extra harmful {prompt, category} files (JSONL/JSON/CSV/Parquet) for each target's ASR")
    p.add_argument("--harmless", nargs="+", action="extend", default=[], metavar="FILE",
                   help="extra harmless {prompt} files for the over-refusal rate (e.g. XSTest's safe prompts)")
    p.add_argument("--external-target", action="append", default=[], metavar="MODEL_OR_URL",
                   help="also attack this model (adds a column to the ASR matrix): a Hugging Face id or local "
                   "path (hf backend), or an OpenAI-compatible server as URL#MODEL (openai backend); repeatable")
    p.add_argument("--judge", default=None, metavar="NAME",
                   help="judge to use instead of the run's (default: the run's judge and its options)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override an `eval` config key for this evaluation, e.g. held_out_seeds=28 (repeatable; "
                   "see `seas config --markdown`)")
    p.set_defaults(func=_cmd_evaluate)
