"""The evaluation protocol: score an upscaler on a dataset as the paper does.

- :mod:`~lgfn.evaluation.datasets`: which evaluation dataset a name and its options describe;
- :mod:`~lgfn.evaluation.evaluator`: :func:`~lgfn.evaluation.evaluator.evaluate`, one method on
  one dataset;
- :mod:`~lgfn.evaluation.compare`: several methods on the same clips, with a side-by-side figure;
- :mod:`~lgfn.evaluation.scoring`: one clip's PSNR/SSIM, and the ``Upscaler`` interface;
- :mod:`~lgfn.evaluation.resume`: the log that lets a stopped evaluation continue, and the record of a
  finished one;
- :mod:`~lgfn.evaluation.outputs`: the output folder, kept apart from the inputs and locked;
- :mod:`~lgfn.evaluation.sharding`: the clips split over the processes of a torchrun;
- :mod:`~lgfn.evaluation.report`: averages, ``metrics.json`` / ``per_frame.csv`` and the table.
- :mod:`~lgfn.evaluation.paper`: the paper's published scores beside the measured ones;
- :mod:`~lgfn.evaluation.temporal` and :mod:`~lgfn.evaluation.perceptual`: tOF and tLP, the
  temporal-consistency metrics of ``test.py --metrics``; :mod:`~lgfn.evaluation.erqa`: ERQA, its
  edge metric.

Submodules are imported directly (``from lgfn.evaluation.evaluator import evaluate``); this package
file imports nothing, so that the configuration, which needs only the dataset names, does not pull
in the metrics and the figures.
"""
