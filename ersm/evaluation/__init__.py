"""Evaluation of trained runs: are the masks faithful, robust, and better than simpler rankings?

One module per metric family, all batched over a split:

- :mod:`~ersm.evaluation.metrics`: the metric registry (one module per metric: keys,
  computation, report section, compare bars);
- :mod:`~ersm.evaluation.rankings`: token importance orders (``energy``, ``magnitude``,
  ``random``, ``gradcam``, ``mask``, ``path``; Captum's with ``attributions``);
- :mod:`~ersm.evaluation.attribution`: rankings of any ``nn.Module`` at a target layer;
- :mod:`~ersm.evaluation.deletion`: deletion / insertion (= pruning, mirrored) curves and their AUC,
  in feature or pixel space;
- :mod:`~ersm.evaluation.localization`: IoU and pointing game against object masks;
- :mod:`~ersm.evaluation.sparsity`: active fraction, keep probabilities, entropy;
- :mod:`~ersm.evaluation.occlusion`: accuracy under object / background occlusion and the
  ROI-only / ROI-masked spurious-background test;
- :mod:`~ersm.evaluation.cost`: FLOPs and time of the layer;
- :mod:`~ersm.evaluation.landscape`: energies around the solved mask, λ/γ sweeps;
- :mod:`~ersm.evaluation.figures`, :mod:`~ersm.evaluation.report`: PNGs and markdown;
- :func:`evaluate_run` (``ersm evaluate``) and :func:`compare_runs` (``ersm compare``).
"""

from .compare import compare_runs
from .deletion import auc
from .evaluate import EvalSettings, evaluate_run, load_metrics

__all__ = ["EvalSettings", "auc", "compare_runs", "evaluate_run", "load_metrics"]
