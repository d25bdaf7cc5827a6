"""npconv's inference time alone, for A/B runs of two versions of the code.

    PYTHONPATH=/path/to/old/src python benchmarks/infer_time.py strided_cnn
    PYTHONPATH=src python benchmarks/infer_time.py strided_cnn

Median milliseconds of ``predict_on_batch`` on a batch of random 28x28 images (default 256,
``--batch-size``) after 20 warm-up calls, with the same models and helper start-up as
``bench_models.py``. Run the two versions alternately, several times each: the machine is
shared. ``--phases``: where the fixed costs of the call go, the parent's and the helper
process's time stamps on one clock (``_phases.py``). Never part of CI's pass/fail.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_models  # noqa: E402 - the same models and helper start-up as the main benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=bench_models.MODELS)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--phases", action="store_true",
                        help="split each call into the parent's and the helper's phases")
    args = parser.parse_args()
    import npconv

    model = bench_models.npconv_model(args.model)
    bench_models._wait_for_npconv_helpers()
    x = np.random.default_rng(0).random((args.batch_size, 28, 28, 1), dtype=np.float32)
    if args.phases:
        import _phases

        _phases.report(f"{args.model}: inference of {args.batch_size} images, phases of "
                       f"{args.calls} calls", _phases.measure(
                           model, lambda: model.predict_on_batch(x), args.calls))
        return
    for _ in range(20):
        model.predict_on_batch(x)
    times = []
    for _ in range(args.calls):
        start = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - start)
    print(f"{args.model}: inference of {args.batch_size} images, median of {args.calls}: "
          f"{np.median(times) * 1e3:.3f} ms (npconv from {os.path.dirname(npconv.__file__)})")


if __name__ == "__main__":
    main()
