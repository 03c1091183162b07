"""The ``seas`` command: a thin layer over the Python API.

Examples::

    seas run --config configs/demo.yaml --output-dir runs/demo
    seas judge --input rows.jsonl --output judged.jsonl --judge embedded
    seas judge-eval --data src/seas/data/builtin/judge_heldout.jsonl --judge refusal
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from typing import Any, Sequence

from seas import __version__


COMMAND_MODULES: list[str] = ["seas.judges.cli", "seas.eval.cli", "seas.report.cli"]  # each module has register(subparsers)


def key_values(items: Sequence[str] | None, flag: str, example: str) -> dict[str, Any]:
    """``KEY=VALUE`` command-line pairs; values are read as YAML scalars (numbers, true/false).

    >>> key_values(["a=1", "b=x=y", "c=true"], "--set", "a=1")
    {'a': 1, 'b': 'x=y', 'c': True}
    """
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} {item!r}: expected KEY=VALUE, e.g. {example}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _cmd_run(args: argparse.Namespace) -> int:
    from seas.config import load_config, with_overrides
    from seas.loop import run, summary

    cfg = with_overrides(load_config(args.config), key_values(args.set, "--set", "target.dpo.epochs=3"))
    if args.iterations is not None:
        cfg.iterations = args.iterations
    metrics = run(cfg, args.output_dir, force=args.force)
    print(summary(metrics))
    print(f"\nmetrics: {os.path.join(args.output_dir, 'metrics.json')}")
    if cfg.eval.after_run:
        from seas.eval import evaluate
        from seas.eval.summary import eval_summary
        from seas.report.html import write_report

        print("\n" + eval_summary(evaluate(args.output_dir)))
        print(f"\neval: {os.path.join(args.output_dir, 'eval.json')}\nreport: {write_report(args.output_dir)}")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from seas.config import SeasConfig, dump_config, iter_fields, load_config

    if args.markdown:
        print("| key | type | default | meaning |\n|---|---|---|---|")
        for key, tp, default, help_text in iter_fields(SeasConfig):
            print(f"| `{key}` | {tp} | `{default!r}` | {help_text} |")
        return 0
    print(dump_config(load_config(args.config) if args.config else SeasConfig()), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seas",
        description="SEAS: a red-team model and a target model improve each other by DPO "
        "(Self-Evolving Adversarial Safety Optimization).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `seas COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"seas {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "run",
        help="run (or resume) the whole SEAS loop",
        description="Initialize R0/T0, then for each iteration: attack, build DPO pairs, train R_i and T_i. "
        "Re-running on the same --output-dir resumes; finished stages are skipped.",
        epilog="example: seas run --config configs/demo.yaml --output-dir runs/demo",
    )
    p.add_argument("--config", required=True, help="YAML config (see configs/demo.yaml, configs/paper.yaml)")
    p.add_argument("--output-dir", required=True, help="run directory (created, or resumed if it exists)")
    p.add_argument("--iterations", type=int, default=None, help="override the config's number of iterations")
    p.add_argument("--force", action="store_true", help="continue a run even if its config changed")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config key (dotted, repeatable), e.g. --set target.chosen=written-refusal")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "config",
        help="print the default config, a checked config, or the reference of every key",
        description="Without options: the default config as YAML. With --config: that file, validated and "
        "completed with defaults. With --markdown: a table of every key, its default and its meaning.",
        epilog="example: seas config --config configs/demo.yaml",
    )
    p.add_argument("--config", help="a YAML config to validate and print in full")
    p.add_argument("--markdown", action="store_true", help="print the key reference as a Markdown table")
    p.set_defaults(func=_cmd_config)

    # Other command groups live beside the code they drive; each module has register(subparsers).
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except BrokenPipeError:  # output piped into `head`
        return 0
    except KeyboardInterrupt:
        print("seas: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - one clear line instead of a deep traceback
        if os.environ.get("SEAS_DEBUG"):
            traceback.print_exc()
        print(f"seas: error: {e}", file=sys.stderr)
        if not os.environ.get("SEAS_DEBUG"):
            print("(set SEAS_DEBUG=1 to see the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
