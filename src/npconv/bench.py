"""``npconv bench MODEL``: where a model's time and memory go, layer by layer.

For each layer, at a given batch size:

    forward_ms     median wall time of ``layer.forward(x, training=True)``
    infer_ms       median wall time of ``layer.forward(x, training=False)`` (inference: e.g.
                   max pooling records no winners, Conv2D runs large batches in blocks)
    backward_ms    median wall time of ``layer.backward(d_out)`` (weights' grads and d_input;
                   d_input is skipped for a layer fed only by the model's input, as in training;
                   a softmax output layer is timed without its softmax, which training fuses
                   with the cross-entropy)
    macs           forward multiply-adds (:func:`npconv.models.cost.layer_cost`); a training
                   step costs about 3x (forward, d_kernel, d_input)
    activation_bytes   the layer's output at this batch size
    im2col_bytes   the patch matrix a convolution builds (0 for other layers)

A ReLU that the model applies after the max pool reading it (:mod:`npconv.models.fusion`) is
timed there too: the producing layer runs without it, the pool's row includes it, and
``BenchReport.notes`` says so.

The inputs are random (standard normal, in the model's float dtype); each layer sees the output
of the layer before it, so shapes and values are those of a real forward pass. Times are medians
over ``repeats`` after ``warmup`` calls; they depend on the machine and its load.

Python: ``bench_model(model, batch_size=64)`` -> :class:`BenchReport`;
``print(format_bench(report))``. Command line: ``npconv bench mnist_cnn --batch-size 64``.

This module imports numpy lazily so that the command-line parser stays fast to build.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["BenchReport", "add_bench_subparser", "bench_command", "bench_model", "format_bench"]


@dataclass
class BenchReport:
    """The result of :func:`bench_model`: one dict per layer in ``rows`` and the totals."""

    model_name: str
    batch_size: int
    dtype: str
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def total(self, key: str):
        """Sum of column ``key`` over the layers (e.g. ``"forward_ms"``, ``"macs"``)."""
        return sum(r[key] for r in self.rows)


def _median_ms(fn, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    mid = len(times) // 2
    median = times[mid] if len(times) % 2 else 0.5 * (times[mid - 1] + times[mid])
    return median * 1e3


def _check_count(value, name, minimum):
    import numbers

    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"bench_model: expected {name} to be an int >= {minimum}. "
                         f"Received: {name}={value!r}")
    return int(value)


def bench_model(model, batch_size: int = 64, repeats: int = 10, warmup: int = 2,
                seed: int = 0) -> BenchReport:
    """Time every layer of a built ``model`` forward and backward at ``batch_size``.

    ``model``: an npconv ``Model``/``Sequential`` with a known input shape (a zoo model, a
    loaded checkpoint). Returns a :class:`BenchReport` whose ``rows`` hold, per layer: ``name``,
    ``type``, ``output_shape`` (batch included), ``forward_ms``, ``infer_ms``, ``backward_ms``,
    ``macs``,
    ``activation_bytes``, ``im2col_bytes``. The weights are not changed.
    """
    import numpy as np

    from .models import fusion
    from .models.cost import layer_cost

    batch_size = _check_count(batch_size, "batch_size", 1)
    repeats = _check_count(repeats, "repeats", 1)
    warmup = _check_count(warmup, "warmup", 0)
    if not hasattr(model, "_nodes") or not getattr(model, "built", False):
        raise ValueError("bench_model: expected a built npconv model with a known input shape "
                         f"(e.g. npconv.models.mnist_cnn()). Received {model!r}")
    rng = np.random.default_rng(seed)
    weights = model.weights
    dtype = weights[0].value.dtype if weights else np.dtype(np.float32)
    inputs = []
    for t in model.inputs:
        if any(d is None for d in t.shape[1:]):
            raise ValueError(f"bench_model: the input shape {t.shape} of {model.name} has "
                             "unknown sizes; build the model with a full input shape")
        inputs.append(rng.standard_normal((batch_size, *t.shape[1:])).astype(dtype))

    values = [None] * model._n_tensors
    values[:len(inputs)] = inputs
    n_inputs = len(inputs)
    last = model._nodes[-1].layer if model._nodes else None
    report = BenchReport(model.name, batch_size, np.dtype(dtype).name)
    pairs = getattr(model, "_relu_pools", {})
    learns = model._trainable_upstream()
    moved = {}  # max-pool position -> the producer's ReLU, applied after the pool
    for k, node in enumerate(model._nodes):
        layer = node.layer
        arg = ([values[p] for p in node.parents] if layer.multiple_inputs
               else values[node.parents[0]])
        with_activation = not (k in pairs and fusion.moves_activation(layer))
        if not with_activation:
            moved[pairs[k]] = layer.activation
            report.notes.append(f"{layer.name}'s ReLU runs after "
                                f"{model._nodes[pairs[k]].layer.name}, on its "
                                "output (npconv.models.fusion); that row includes it")
        after = moved.get(k)

        def run(training, layer=layer, arg=arg, act=with_activation, after=after):
            y = layer.forward(arg, training=training, activation=act)
            return (y, None) if after is None else after.forward(y)

        infer_ms = _median_ms(lambda run=run: run(False), repeats, warmup)
        forward_ms = _median_ms(lambda run=run: run(True), repeats, warmup)
        y, after_cache = run(True)  # the caches backward reads
        values[node.out] = y
        d_out = (rng.standard_normal(y.shape).astype(y.dtype) if y.dtype.kind == "f"
                 else None)
        backward_ms = 0.0
        # as in training: d_input only when a trainable weight lies before the layer
        needs_dx = any(learns[p] for p in node.parents)
        if needs_dx and getattr(layer, "differentiable", True) is False:
            report.notes.append(f"{layer.name} has no gradient (a Lambda without backward=), "
                                "so its backward is not timed; the model cannot train "
                                "through it")
        elif d_out is not None and (layer._weights or any(p >= n_inputs
                                                          for p in node.parents)):
            layer.need_input_grad = needs_dx
            through = not (layer is last and getattr(layer.activation, "name", "") == "softmax")

            def back(layer=layer, d=d_out, through=through, after=after, cache=after_cache):
                if after is not None:
                    d = after.backward(d, cache)
                return layer.backward(d, through_activation=through)

            backward_ms = _median_ms(back, repeats, warmup)
            layer.need_input_grad = True
        for w in layer._weights:
            w.grad = None
        cost = layer_cost(layer, batch_size)
        report.rows.append({"name": layer.name, "type": type(layer).__name__,
                            "output_shape": (batch_size, *y.shape[1:]),
                            "forward_ms": forward_ms, "infer_ms": infer_ms,
                            "backward_ms": backward_ms, **cost})
    return report


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def format_bench(report: BenchReport) -> str:
    """The report as a text table, one line per layer, then the totals."""
    width = max([32] + [len(r["name"]) + len(r["type"]) + 4 for r in report.rows])
    header = (f"{'Layer (type)':<{width}}{'Output shape':<22}{'fwd ms':>9}{'bwd ms':>9}"
              f"{'infer ms':>9}"
              f"{'MMACs':>10}{'activations':>13}{'im2col':>11}")
    lines = [f'npconv bench "{report.model_name}": batch {report.batch_size}, {report.dtype}, '
             "median milliseconds per call", header, "=" * len(header)]
    for r in report.rows:
        lines.append(f"{r['name'] + ' (' + r['type'] + ')':<{width}}{str(r['output_shape']):<22}"
                     f"{r['forward_ms']:>9.3f}{r['backward_ms']:>9.3f}{r['infer_ms']:>9.3f}"
                     f"{r['macs'] / 1e6:>10.2f}"
                     f"{_human_bytes(r['activation_bytes']):>13}"
                     f"{_human_bytes(r['im2col_bytes']):>11}")
    fwd, bwd, macs = report.total("forward_ms"), report.total("backward_ms"), report.total("macs")
    lines.append("=" * len(header))
    infer = report.total("infer_ms")
    lines.append(f"{'Total':<{width + 22}}{fwd:>9.3f}{bwd:>9.3f}{infer:>9.3f}{macs / 1e6:>10.2f}"
                 f"{_human_bytes(report.total('activation_bytes')):>13}"
                 f"{_human_bytes(report.total('im2col_bytes')):>11}")
    step = fwd + bwd
    if step > 0:
        lines.append(f"forward + backward: {step:.3f} ms = {report.batch_size / step * 1e3:,.0f} "
                     f"images/s; {3 * 2 * macs / step / 1e6:.1f} GFLOP/s (training FLOPs "
                     "= 3 x 2 x forward MACs)")
    if infer > 0:
        lines.append(f"inference forward: {infer:.3f} ms = "
                     f"{report.batch_size / infer * 1e3:,.0f} images/s")
    lines.extend(f"note: {note}" for note in report.notes)
    return "\n".join(lines)


# ---------------------------------------------------------------------------- command line
def add_bench_subparser(subparsers):
    """Add ``bench MODEL [--batch-size N] [--repeats N] [--input-shape H,W,C]`` to an
    ``argparse`` sub-command set; the parsed arguments go to :func:`bench_command`."""
    from .cli import _int_at_least  # (the command line's own int parser: exit code 2)

    p = subparsers.add_parser(
        "bench", help="per-layer forward/backward time, MACs and memory of a model",
        description="Time every layer of a zoo model or a checkpoint forward and backward at a "
        "batch size (random inputs), with its multiply-adds, activation memory and im2col "
        "buffer bytes.")
    p.add_argument("model", metavar="MODEL", help="a zoo model name (mnist_cnn, strided_cnn, "
                   "lenet5, ...) or a .npconv checkpoint file")
    p.add_argument("--batch-size", type=_int_at_least(1), default=64, metavar="N",
                   help="default 64")
    p.add_argument("--repeats", type=_int_at_least(1), default=10, metavar="N",
                   help="timed calls per layer and direction; the median is shown (default 10)")
    p.add_argument("--input-shape", metavar="H,W,C",
                   help="input shape for a zoo model (default: the model's own)")
    p.set_defaults(handler=bench_command)
    return p


def _load_model(spec: str, input_shape):
    import os

    from .cli import UsageError  # (exit code 2; a ValueError for Python callers)

    if os.path.exists(spec) or spec.endswith(".npconv"):
        if input_shape is not None:
            raise UsageError("npconv bench: --input-shape applies to zoo models, not to a "
                             "checkpoint")
        from .io import load_model

        return load_model(spec, compile=False)
    from .models.zoo import ZOO, get_model

    if spec not in ZOO:
        raise UsageError(f"npconv bench: unknown model {spec!r}: give a zoo model "
                         f"({', '.join(sorted(ZOO))}) or a .npconv file")
    kwargs = {}
    if input_shape is not None:
        shape = input_shape
        if isinstance(shape, str):
            try:
                shape = tuple(int(s) for s in shape.split(","))
            except ValueError:
                raise UsageError(f"npconv bench: expected --input-shape H,W,C (ints). "
                                 f"Received {input_shape!r}") from None
        kwargs["input_shape"] = tuple(shape)
    return get_model(spec, **kwargs)


def bench_command(args) -> int:
    """Run ``npconv bench`` for parsed ``args`` (model, batch_size, repeats, input_shape)."""
    model = _load_model(args.model, getattr(args, "input_shape", None))
    report = bench_model(model, batch_size=args.batch_size, repeats=args.repeats)
    print(format_bench(report))
    return 0
