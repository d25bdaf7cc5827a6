"""npconv against PyTorch on the seeds' networks: training and inference throughput, side by side.

For the seed-001 MNIST CNN, LeNet-5 and the seed-003 strided CNN, builds the npconv model and an
identical torch twin (same layers and sizes, channels-first), then times alternately, in one
process, on the same random data:

- training: one step = forward + backward + RMSprop update (Keras defaults: lr 1e-3, rho 0.9,
  eps 1e-7), batch 64; npconv drives the same internals as ``fit`` (``_train_step``), torch
  the usual ``zero_grad / loss.backward / step`` with ``CrossEntropyLoss`` on the logits;
- inference: batch 256, softmax probabilities (npconv ``predict_on_batch``; torch ``eval`` +
  ``inference_mode``).

torch runs both with its default contiguous NCHW tensors and with ``channels_last``; the faster
of the two is the reference. Medians over repeats; ratio = npconv images/s / torch images/s
(> 1: npconv is faster). Also prints the training GFLOP/s (3 x 2 x forward multiply-adds per
image) and its share of the CPU's FP32 peak, and the time of ``python -c "import npconv"``.
``--full`` adds a 5-epoch Fashion-MNIST training of the seed-001 CNN in each framework, each in
its own subprocess (wall time, peak RSS of the process and npconv's helper, test accuracy).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_models.py [--full]

See benchmarks/README.md. Never part of CI's pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

THREADS = 2
TRAIN_BATCH, INFER_BATCH = 64, 256
MODELS = ("mnist_cnn", "lenet5", "strided_cnn")


# ---------------------------------------------------------------------------- machine
def cpu_clock_ghz() -> tuple[float, str]:
    """The clock to compute the peak with, and where it came from."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("CPU max MHz:"):
                return float(line.split(":")[1]) / 1e3, "lscpu 'CPU max MHz'"
    except OSError:
        pass
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1e3, "/proc/cpuinfo 'cpu MHz' (nominal)"
    return float("nan"), "unknown"


def fp32_peak_gflops() -> tuple[float, str]:
    """cores x clock x FP32 FLOP per cycle (AVX-512 with two 512-bit FMA pipes: 2 x 16 x 2 = 64;
    AVX2 only: 32)."""
    cores = os.cpu_count() or 1
    ghz, source = cpu_clock_ghz()
    flags = open("/proc/cpuinfo").read()
    per_cycle = 64 if " avx512f" in flags else 32
    note = (f"{cores} cores x {ghz:.3f} GHz ({source}) x {per_cycle} FP32 FLOP/cycle "
            f"({'AVX-512, 2 FMA pipes x 16 lanes x 2' if per_cycle == 64 else 'AVX2 FMA'}); "
            "the real clock under boost may be higher")
    return cores * ghz * per_cycle, note


def blas_line() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS: threadpoolctl not installed (pip install threadpoolctl) - core type unknown"
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    parts = [f"{i.get('internal_api')} {i.get('version')} core type {i.get('architecture')}, "
             f"{i.get('num_threads')} threads" for i in infos]
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    warn = (" -- WARNING: OPENBLAS_CORETYPE forces the AVX2 kernels (about half speed); run with "
            "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE" if env else "")
    return f"numpy BLAS: {'; '.join(parts)}; env {env or 'clean'}{warn}"


# ---------------------------------------------------------------------------- models
def npconv_model(name):
    import npconv
    from npconv.models import zoo

    npconv.set_random_seed(0)
    model = zoo.get_model(name)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    return model


def torch_model(name):
    import torch
    from torch import nn

    torch.manual_seed(0)
    if name == "mnist_cnn":
        layers = [nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(64, 128, 3), nn.ReLU(), nn.Flatten(), nn.Linear(1152, 10)]
    elif name == "lenet5":
        layers = [nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
                  nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
                  nn.Linear(400, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(),
                  nn.Linear(84, 10)]
    elif name == "strided_cnn":
        layers = [nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
                  nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
                  nn.Conv2d(64, 128, 3, stride=3, padding=1), nn.ReLU(), nn.Flatten(),
                  nn.Linear(1152, 128), nn.ReLU(), nn.Linear(128, 10)]
    else:
        raise ValueError(name)
    return nn.Sequential(*layers)


def torch_rmsprop(model):
    import torch

    return torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)


def forward_macs(model, batch):
    from npconv.models.cost import layer_cost

    return sum(layer_cost(node.layer, batch)["macs"] for node in model._nodes)


# ---------------------------------------------------------------------------- timing
def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(name, repeats, warmup, rng, frameworks=("npconv", "torch")):
    """Median seconds per call: {'npconv': ..., 'torch': ..., 'torch_cl': ...} for train/infer
    (only the keys of ``frameworks``: torch gives 'torch' and 'torch_cl')."""
    from npconv.training.loop import _train_step

    model = npconv_model(name)
    x = rng.random((TRAIN_BATCH, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, TRAIN_BATCH)
    xi = rng.random((INFER_BATCH, 28, 28, 1), dtype=np.float32)
    runs = {"train": {}, "infer": {}}
    if "npconv" in frameworks:
        runs["train"]["npconv"] = lambda: _train_step(model, x, y, [])
        runs["infer"]["npconv"] = lambda: model.predict_on_batch(xi)
    tmodels = {}
    if "torch" in frameworks:
        tmodels = _torch_runs(name, x, y, xi, runs)
    if "npconv" in frameworks:
        _wait_for_npconv_helpers()
    result = {}
    for mode, fns in runs.items():
        for m in tmodels.values():
            m.train(mode == "train")
        for fn in fns.values():
            for _ in range(warmup):
                fn()
        times = {k: [] for k in fns}
        keys = list(fns)
        for r in range(repeats):
            order = keys if r % 2 == 0 else keys[::-1]  # alternate who goes first
            for k in order:
                times[k].append(_timed(fns[k]))
        result[mode] = {k: float(np.median(v)) for k, v in times.items()}
    result["macs"] = forward_macs(model, 1)
    return result


def _wait_for_npconv_helpers(timeout=30.0):
    """npconv starts its helper processes in the background at the first large batch and
    uses threads until they are ready: time it once they are."""
    import npconv
    from npconv import _workers

    helpers = npconv.get_num_threads() - 1
    if helpers < 1 or not _workers.available():
        return
    deadline = time.monotonic() + timeout
    while _workers.ready_workers(helpers) is None and time.monotonic() < deadline:
        time.sleep(0.05)


def _torch_runs(name, x, y, xi, runs):
    """Add the torch twins' training and inference calls (NCHW and channels_last) to runs."""
    import torch

    tmodels = {"torch": torch_model(name), "torch_cl": torch_model(name)}
    tmodels["torch_cl"] = tmodels["torch_cl"].to(memory_format=torch.channels_last)
    topts = {k: torch_rmsprop(m) for k, m in tmodels.items()}
    tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    txi = torch.from_numpy(xi.transpose(0, 3, 1, 2).copy())
    tinputs = {"torch": (tx, txi),
               "torch_cl": (tx.to(memory_format=torch.channels_last),
                            txi.to(memory_format=torch.channels_last))}
    ty = torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()

    def torch_train(k):
        m, opt = tmodels[k], topts[k]

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(m(tinputs[k][0]), ty)
            loss.backward()
            opt.step()
            loss.item()
        return step

    def torch_infer(k):
        m = tmodels[k]

        def run():
            with torch.inference_mode():
                torch.softmax(m(tinputs[k][1]), dim=1).numpy()
        return run

    for k in tmodels:
        runs["train"][k] = torch_train(k)
        runs["infer"][k] = torch_infer(k)
    return tmodels


def isolated(name, args, rounds=3):
    """compare() with each framework in its own subprocess (no thread pool of one framework
    spinning on the core the other needs), alternating npconv and torch for ``rounds``; the
    median of the per-process medians."""
    per = {}
    for r in range(rounds):
        order = ["npconv", "torch"] if r % 2 == 0 else ["torch", "npconv"]
        for fw in order:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, fw,
                   "--repeats", str(args.repeats), "--warmup", str(args.warmup),
                   "--threads", str(args.threads)]
            if args.blas_threads is not None:
                cmd += ["--blas-threads", str(args.blas_threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                                 env=_worker_env(fw, args.torch_malloc)).stdout
            res = json.loads(out.strip().splitlines()[-1])
            per.setdefault("macs", res["macs"])
            for mode in ("train", "infer"):
                for k, v in res[mode].items():
                    per.setdefault(mode, {}).setdefault(k, []).append(v)
    return {"macs": per["macs"],
            **{mode: {k: float(np.median(v)) for k, v in per[mode].items()}
               for mode in ("train", "infer")}}


def _worker_env(framework, torch_malloc):
    """The environment of a timing subprocess. Importing npconv's layers (here: for the
    multiply-add counts) tunes glibc's allocator (npconv._malloc); the torch subprocess keeps
    glibc's defaults, as torch's users have them, unless ``--torch-malloc npconv``."""
    env = dict(os.environ)
    if framework == "torch" and torch_malloc == "default":
        env["NPCONV_KEEP_HEAP"] = "0"
    return env


def import_time(repeats=5):
    best = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import npconv"], check=True)
        best.append(time.perf_counter() - start)
    return float(np.median(best))


# ---------------------------------------------------------------------------- --full
FULL_SCRIPT = r"""
import json, resource, sys, time
import numpy as np
framework, epochs = sys.argv[1], int(sys.argv[2])
start = time.perf_counter()
from npconv.datasets.fashion_mnist import load_data
(xtr, ytr), (xte, yte) = load_data(download=False)
xtr = xtr.astype(np.float32)[..., None]  # scaled in place: no second 188 MB temporary
xtr /= 255.0
xte = xte.astype(np.float32)[..., None]
xte /= 255.0
ytr, yte = ytr.astype(np.int64), yte.astype(np.int64)
data_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
if framework == "npconv":
    import npconv
    from npconv.models import zoo
    npconv.set_random_seed(0)
    model = zoo.mnist_cnn()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(xtr, ytr, batch_size=64, epochs=epochs, verbose=0, seed=0)
    acc = float(model.evaluate(xte, yte, batch_size=256, verbose=0)[1])
    from npconv import _workers
    helper_mb = helper_file_mb = 0.0  # peak RSS of each helper process (VmHWM;
    for w in _workers._workers:  # RUSAGE_CHILDREN would count the parent's pages the child
        with open(f"/proc/{w.process.pid}/status") as f:  # had between fork and exec)
            status = {line.split(":")[0]: int(line.split()[1]) for line in f
                      if line.startswith(("VmHWM", "RssFile"))}
        helper_mb += status["VmHWM"] / 1024
        # its pages of files (the interpreter, numpy's and OpenBLAS's libraries): the same
        # physical pages as the main process's, so counted twice in the sum of the two peaks
        helper_file_mb += status["RssFile"] / 1024
    _workers.shutdown()
else:
    helper_mb = helper_file_mb = 0.0
    import torch
    from torch import nn
    torch.set_num_threads(int(sys.argv[3]))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(64, 128, 3), nn.ReLU(), nn.Flatten(), nn.Linear(1152, 10))
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    # (N, 28, 28, 1) -> (N, 1, 28, 28) is a reshape for one channel: a view, no copy
    tx = torch.from_numpy(xtr.reshape(-1, 1, 28, 28)); ty = torch.from_numpy(ytr)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(tx), generator=g)
        for i in range(0, len(tx), 64):
            idx = perm[i:i + 64]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(tx[idx]), ty[idx]).backward()
            opt.step()
    model.eval()
    with torch.inference_mode():
        pred = torch.cat([model(torch.from_numpy(xte[i:i + 256].reshape(-1, 1, 28, 28)))
                          .argmax(1) for i in range(0, len(xte), 256)])
    acc = float((pred.numpy() == yte).mean())
wall = time.perf_counter() - start
print(json.dumps({"framework": framework, "wall_s": wall, "test_accuracy": acc,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                  + helper_mb, "helper_rss_mb": helper_mb, "helper_file_mb": helper_file_mb,
                  "data_rss_mb": data_rss}))
"""


def full_run(framework, epochs, threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), NPCONV_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", FULL_SCRIPT, framework, str(epochs),
                          str(threads)], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- main
def _limit_threads(framework, threads, blas_threads):
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
    else:  # npconv splits each batch over this many threads (BLAS at 1 thread inside them)
        import npconv

        npconv.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(blas_threads, user_api="blas")
    except ImportError:
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--full", action="store_true",
                        help="also a 5-epoch Fashion-MNIST training of the seed-001 CNN in each")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="threads for npconv (npconv.set_num_threads), OpenBLAS (via "
                        f"threadpoolctl) and torch (default {THREADS}, this machine's cores)")
    parser.add_argument("--isolated", action="store_true",
                        help="time each framework in its own subprocess (3 alternating rounds)")
    parser.add_argument("--torch-malloc", choices=("default", "npconv"), default="default",
                        help="with --isolated: torch with glibc's default allocator settings "
                        "(default, what torch's users get) or with the ones npconv sets for "
                        "itself (npconv._malloc: freed memory kept at the heap top)")
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "FRAMEWORK"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="OpenBLAS threads for npconv if not --threads (e.g. 1 against torch "
                        "at 2: small GEMMs lose more to thread hand-offs than they gain)")
    args = parser.parse_args(argv)
    blas_threads = args.threads if args.blas_threads is None else args.blas_threads
    if args.worker:
        name, framework = args.worker
        _limit_threads(framework, args.threads, blas_threads)
        res = compare(name, args.repeats, args.warmup, np.random.default_rng(0), (framework,))
        print(json.dumps(res))
        return

    import torch

    torch.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(blas_threads, user_api="blas")
    except ImportError:
        if blas_threads != THREADS:
            sys.exit("--threads needs threadpoolctl (pip install threadpoolctl)")
    print(f"date {time.strftime('%Y-%m-%d %H:%M')}; {platform.processor() or platform.machine()}"
          f", {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; "
          f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print(blas_line())
    if args.models:
        print("allocator: npconv keeps freed memory at the heap top (npconv._malloc); torch: "
              + ("glibc's defaults" if args.isolated and args.torch_malloc == "default" else
                 "the same settings (it shares npconv's process)" if not args.isolated else
                 "the same settings as npconv (--torch-malloc npconv)"))
    peak, peak_note = fp32_peak_gflops()
    print(f"FP32 peak {peak:.0f} GFLOP/s = {peak_note}")
    print(f"python -c 'import npconv': {import_time() * 1e3:.0f} ms (median of 5, incl. "
          "interpreter start)")
    print()
    rng = np.random.default_rng(0)
    header = (f"{'model':<12} {'mode':<6} {'npconv img/s':>13} {'torch NCHW':>11} "
              f"{'torch CL':>10} {'ratio':>6}  {'npconv GFLOP/s':>14} {'% peak':>7}")
    print(header)
    print("-" * len(header))
    for name in filter(None, args.models.split(",")):  # --models "" skips this part
        res = (isolated(name, args) if args.isolated
               else compare(name, args.repeats, args.warmup, rng))
        for mode, batch in (("train", TRAIN_BATCH), ("infer", INFER_BATCH)):
            t = res[mode]
            ips = {k: batch / v for k, v in t.items()}
            best_torch = max(ips["torch"], ips["torch_cl"])
            flops = res["macs"] * batch * 2 * (3 if mode == "train" else 1)
            gflops = flops / t["npconv"] / 1e9
            print(f"{name:<12} {mode:<6} {ips['npconv']:>13,.0f} {ips['torch']:>11,.0f} "
                  f"{ips['torch_cl']:>10,.0f} {ips['npconv'] / best_torch:>6.2f}  "
                  f"{gflops:>14.1f} {100 * gflops / peak:>6.1f}%")
    print("ratio = npconv / the faster torch layout; GFLOP/s from forward MACs x 2 (x 3 for a "
          f"training step); train batch {TRAIN_BATCH}, infer batch {INFER_BATCH}; medians of "
          f"{args.repeats}, alternating"
          + (" (each framework in its own subprocess, 3 rounds)" if args.isolated else
             " in one process"))
    if args.full:
        print()
        print(f"Full run: seed-001 CNN, Fashion-MNIST, {args.epochs} epochs, batch 64, RMSprop, "
              "one subprocess per framework (torch with glibc's default allocator)")
        runs = [full_run("npconv", args.epochs, args.threads),
                full_run("torch", args.epochs, args.threads)]
        for r in runs:
            helper = (f", {r['helper_rss_mb']:.0f} MB in npconv's helper process, "
                      f"{r['helper_file_mb']:.0f} MB of which are pages of library files the "
                      "main process maps too" if r.get("helper_rss_mb") else "")
            print(f"  {r['framework']:<7} wall {r['wall_s']:7.1f} s  peak RSS "
                  f"{r['peak_rss_mb']:7.1f} MB (of which {r['data_rss_mb']:.0f} MB reached while "
                  f"loading the data, before the framework{helper})  test accuracy "
                  f"{r['test_accuracy']:.4f}")
        n, t = runs
        once = n["peak_rss_mb"] - n["helper_file_mb"]
        print(f"  npconv/torch: wall time {n['wall_s'] / t['wall_s']:.3f}x, peak memory "
              f"{n['peak_rss_mb'] / t['peak_rss_mb']:.3f}x (the sum of both processes' peaks; "
              f"{once / t['peak_rss_mb']:.3f}x counting the shared library pages once)")


if __name__ == "__main__":
    main()
