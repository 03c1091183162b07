"""``seas judge`` and ``seas judge-eval``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from seas.cli import key_values
from seas.judges import judge_names


def _judge(args: argparse.Namespace) -> Any:
    from seas.judges import make_judge

    return make_judge(args.judge, **key_values(args.option, "--option", "threshold=0.6"))


def _cmd_judge(args: argparse.Namespace) -> int:
    from seas.judges.evaluate import judge_file

    stats = judge_file(_judge(args), args.input, args.output)
    print(json.dumps(stats))
    return 0


def _cmd_judge_eval(args: argparse.Namespace) -> int:
    from seas.data.loading import load_labelled
    from seas.io import write_json
    from seas.judges.evaluate import evaluate_judge, format_table

    rows = load_labelled(args.data, "judge_heldout", args.label_column)
    result = evaluate_judge(_judge(args), rows, n_boot=args.bootstrap)
    result["data"] = args.data
    print(format_table(result))
    if args.json:
        write_json(args.json, result)
        print(f"\nJSON: {args.json}")
    return 0


def register(sub: Any) -> None:
    names = ", ".join(judge_names())
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--judge", default="embedded", help=f"judge name (default: embedded; known: {names})")
    common.add_argument(
        "--option", action="append", metavar="KEY=VALUE",
        help="judge option, repeatable (e.g. --option model=meta-llama/Llama-Guard-3-8B --option threshold=0.6)",
    )

    p = sub.add_parser(
        "judge", parents=[common], help="label (prompt, response) rows safe / unsafe / unknown",
        description="Read JSONL or CSV rows with 'prompt' and 'response'; write the same rows, in order, with "
        "every field kept plus 'label' (safe/unsafe/unknown), 'score' (P(unsafe) where the judge has one) and "
        "'categories'. Prints counts as JSON.",
        epilog="example: seas judge --input runs/demo/iter_1/attack.jsonl --output judged.jsonl --judge refusal",
    )
    p.add_argument("--input", required=True, help="JSONL or CSV with prompt and response fields")
    p.add_argument("--output", required=True, help="JSONL to write")
    p.set_defaults(func=_cmd_judge)

    p = sub.add_parser(
        "judge-eval", parents=[common], help="measure a judge's agreement with human labels",
        description="Accuracy, precision, recall and F1 ('unsafe' is positive), the confusion matrix and "
        "per-category figures, with bootstrap 95%% intervals. Unknown verdicts count as wrong.",
        epilog="example: seas judge-eval --data builtin --judge embedded --json judge-eval.json",
    )
    p.add_argument(
        "--data", default="builtin",
        help="labelled rows (JSONL/CSV/... with prompt, response, label); 'builtin' = our held-out split",
    )
    p.add_argument("--label-column", default="label", help="column with the human label (safe/unsafe)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals")
    p.add_argument("--json", help="also write the full result as JSON here")
    p.set_defaults(func=_cmd_judge_eval)
