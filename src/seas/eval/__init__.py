"""Held-out evaluation of a run: ``seas evaluate DIR`` writes DIR/eval.json.

>>> from seas.eval import evaluate
>>> result = evaluate("runs/demo")          # doctest: +SKIP
>>> result["asr_matrix"]["values"]          # doctest: +SKIP
"""

from seas.eval.diversity import self_bleu, self_bleu_scores
from seas.eval.evaluate import EVAL_SCHEMA_VERSION, evaluate

__all__ = ["EVAL_SCHEMA_VERSION", "evaluate", "self_bleu", "self_bleu_scores"]
