"""seas: Self-Evolving Adversarial Safety Optimization (Diao et al., AAAI 2025).

>>> import seas
>>> cfg = seas.load_config("configs/demo.yaml")      # doctest: +SKIP
>>> metrics = seas.run(cfg, "runs/demo")             # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load_config(path: str) -> Any:
    from seas.config import load_config as _load

    return _load(path)


def run(cfg: Any, output_dir: str, force: bool = False) -> dict[str, Any]:
    """Run or resume the SEAS loop in ``output_dir`` (see ``seas.loop.run``)."""
    from seas.loop import run as _run

    return _run(cfg, output_dir, force=force)


__all__ = ["__version__", "load_config", "run"]
