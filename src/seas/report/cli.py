"""``seas report``: registered in seas.cli through COMMAND_MODULES.

Example::

    seas report runs/demo            # writes runs/demo/report.html
"""

from __future__ import annotations

import argparse
from typing import Any


def _cmd_report(args: argparse.Namespace) -> int:
    from seas.report.html import write_report

    path = write_report(args.dir, args.output, samples=args.samples)
    print(f"report: {path}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="write DIR/report.html: one static page with the run's plots, findings and sample attacks",
        description="Build one self-contained HTML page (plots embedded as PNG, no network, no scripts) from a run "
        "directory: target ASR per iteration with 95% CIs, the red team x target heat map, per-category ASR, "
        "prompt diversity, ASR vs over-refusal, capability vs T0, training losses, sample attacks with the judge's "
        "labels, and a plain 'What this run shows' section that checks the paper's trends. Uses eval.json when "
        "present (run `seas evaluate DIR` first for the held-out numbers); works on partial runs.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  seas evaluate runs/demo && seas report runs/demo\n  seas report runs/demo --output /tmp/demo.html",
    )
    p.add_argument("dir", metavar="DIR", help="a seas run directory")
    p.add_argument("--output", default=None, metavar="FILE", help="where to write the page (default DIR/report.html)")
    p.add_argument("--samples", type=int, default=6, metavar="N", help="sample attacks shown per iteration (default 6)")
    p.set_defaults(func=_cmd_report)
