"""Edit-quality metrics that need no ground truth (a domain may add ground-truth ones in its own package).

* ``metrics``     — per-image success / kept / identity cosine / image distance / pairwise diversity;
* ``frechet``     — the Fréchet distance between two feature sets;
* ``judges``      — reading the identity embedder (a domain file or FaceNet weights) and LPIPS offline;
* ``edit_scores`` — ``evaluate_without_ground_truth``: the table of ``latentedit evaluate``.
"""

from latentedit.evaluation.edit_scores import (COLUMNS, EvalConfig, Evaluation, EvaluationError, EvalScore,
                                               evaluate_without_ground_truth)
from latentedit.evaluation.frechet import frechet_distance

__all__ = ["COLUMNS", "EvalConfig", "EvalScore", "Evaluation", "EvaluationError", "evaluate_without_ground_truth",
           "frechet_distance"]
