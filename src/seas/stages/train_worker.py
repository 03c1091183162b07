"""Entry point of each process of a multi-process training (``accelerate launch``).

Usage (started by ``seas.stages.train.launch``, not by hand)::

    accelerate launch --num_processes 2 -m seas.stages.train_worker JOB.json
"""

from __future__ import annotations

import sys
from pathlib import Path

from seas.config import ModelConfig, TrainConfig
from seas.io import read_json, read_jsonl
from seas.stages.train import _train_here


def main(job_path: str) -> int:
    job = read_json(job_path)
    _train_here(
        job["kind"], job["parent"], ModelConfig(**job["model"]), TrainConfig(**job["train"]),
        read_jsonl(job["rows"]), Path(job["out"]), int(job["seed"]),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
