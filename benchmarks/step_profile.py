"""Where one npconv training step's time goes: the parent's part, the wait for the helper
process, the optimizer, and the rest (hand-off, loss rows, gradient sum).

    python benchmarks/step_profile.py lenet5 [--steps 300] [--batch-size 64]

Times ``npconv.training.loop._train_step`` at batch 64 on random data (the step ``fit``
runs), wrapping the functions it calls with timers; medians over the steps. ``--phases``:
the step's fixed costs, the parent's and the helper process's time stamps on one clock
(``_phases.py``). Never part of CI's pass/fail.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_models  # noqa: E402 - the same models and helper start-up as the main benchmark


def _timed(owner, name, key, times):
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        result = original(*args, **kwargs)
        times.setdefault(key, []).append(time.perf_counter() - start)
        return result

    setattr(owner, name, wrapper)


def profile(name: str, steps: int, batch_size: int) -> dict[str, float]:
    from npconv import _workers
    from npconv.models import parallel
    from npconv.training import loop

    model = bench_models.npconv_model(name)
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, batch_size)
    bench_models._wait_for_npconv_helpers()
    times: dict[str, list[float]] = {}
    wait = _workers.Worker.wait

    def timed_wait(self, seq):
        start = time.perf_counter()
        reply = wait(self, seq)
        times.setdefault("waiting for the helper", []).append(time.perf_counter() - start)
        times.setdefault("the helper's part (its own clock)", []).append(reply.get("busy_s", 0))
        return reply

    _workers.Worker.wait = timed_wait
    _timed(type(model), "_forward_serial", "the parent's part: forward", times)
    _timed(type(model), "_backward_serial", "the parent's part: backward", times)
    _timed(parallel, "_process_state", "helper set-up check (config)", times)
    _timed(model.optimizer, "apply_gradients", "optimizer", times)
    _timed(loop, "_train_step", "whole step", times)
    for _ in range(50):
        loop._train_step(model, x, y, [])
    times.clear()
    for _ in range(steps):
        loop._train_step(model, x, y, [])
    return {key: float(np.median(values)) * 1e3 for key, values in times.items()}


def phases(name: str, steps: int, batch_size: int) -> None:
    import _phases

    from npconv.training import loop

    model = bench_models.npconv_model(name)
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, batch_size)
    bench_models._wait_for_npconv_helpers()
    _phases.report(f"{name}: training step of {batch_size} images, phases of {steps} steps",
                   _phases.measure(model, lambda: loop._train_step(model, x, y, []), steps,
                                   optimizer=model.optimizer))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=bench_models.MODELS)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--phases", action="store_true",
                        help="split each step into the parent's and the helper's phases")
    args = parser.parse_args(argv)
    if args.phases:
        phases(args.model, args.steps, args.batch_size)
        return
    result = profile(args.model, args.steps, args.batch_size)
    print(f"{args.model}, batch {args.batch_size}, medians of {args.steps} steps (ms):")
    for key, value in result.items():
        print(f"  {key:36s} {value:7.3f}")


if __name__ == "__main__":
    main()
