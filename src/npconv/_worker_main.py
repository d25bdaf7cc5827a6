"""The helper process of :mod:`npconv._workers`: runs parts of batches for its parent.

Started as ``python -m npconv._worker_main FD`` with one end of a Unix socket pair. It
answers JSON requests, one at a time, each with the ``seq`` it came with:

    setup     {key, kind, config, weights: [[offset, shape, dtype], ...]} + the weights' fd:
              build the model from its config; its weights are views of the shared file
    exchange  {size} + fd: map the exchange buffer (inputs, outputs, gradients)
    forward   {key, inputs: [[offset, shape, dtype]], training, out_at}: run the model on
              the inputs, write the outputs from byte ``out_at``; reply their layout
    backward  {key, d_outputs: [...], fused, grads_at: [offset per weight or None], dx_at,
              release}: back-propagate (dropping each layer's caches after it if
              ``release``), write each trainable weight's gradient (and the input
              gradients from ``dx_at`` unless it is null); reply which were written
    train     {key, inputs, labels, sample_weight, loss: {class_name, config}, batch_size,
              out_at, values_at, grads_at}: a training step on the part: forward, the fused
              loss gradient of its rows (``Loss.fused_rows``), backward (caches released);
              write the outputs, the per-sample losses and the gradients
    drop      {key}: forget a model
    exit
Errors are answered as {error, type}, and the helper goes on. Every reply also carries
``busy_s`` and ``clock``: ``time.perf_counter()`` when the request was received, started
(parsed), computed and written (the system's monotonic clock, which the parent reads too).
"""

from __future__ import annotations

import gc
import json
import mmap
import signal
import socket
import sys
import time


def _views(buffer, specs):
    from ._workers import view

    return [view(buffer, offset, shape, dtype) for offset, shape, dtype in specs]


class _Helper:
    def __init__(self, sock):
        self.sock = sock
        self.models = {}
        self.loss = None  # (spec, Loss) of the last training request
        self.exchange = None
        self.computed = None  # when the last request's compute ended (perf_counter)

    @staticmethod
    def _map(fd, size):
        """The shared file ``fd`` as bytes (the mapping lives as long as arrays use it)."""
        import os

        import numpy as np

        try:
            mapped = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        return np.frombuffer(mapped, dtype=np.uint8)

    def setup(self, msg, fds):
        from .models.functional import _model_class

        weights_buffer = self._map(fds[0], msg["size"])
        model = _model_class(msg["kind"], "npconv helper").from_config(msg["config"])
        ours = model.weights
        if len(ours) != len(msg["weights"]):
            raise ValueError(f"npconv helper: the model has {len(ours)} weights, the parent "
                             f"sent {len(msg['weights'])}")
        for w, view in zip(ours, _views(weights_buffer, msg["weights"]), strict=True):
            if w.value.shape != view.shape or w.value.dtype != view.dtype:
                raise ValueError(f"npconv helper: weight {w.name} is {w.value.shape} "
                                 f"{w.value.dtype}, the parent sent {view.shape} {view.dtype}")
            w.value = view
        self.models[msg["key"]] = model
        return {}

    def forward(self, msg):
        from ._workers import write_arrays

        model = self.models[msg["key"]]
        xs = _views(self.exchange, msg["inputs"])
        outs = model._forward_serial(xs, bool(msg["training"]))
        self.computed = time.perf_counter()
        outs = outs if isinstance(outs, list) else [outs]
        return {"outputs": write_arrays(self.exchange, msg["out_at"], outs)}

    def backward(self, msg):
        from ._workers import write_arrays

        model = self.models[msg["key"]]
        ds = _views(self.exchange, msg["d_outputs"])
        dx = model._backward_serial(ds if model._multi_output else ds[0],
                                    fused_output_activation=bool(msg["fused"]),
                                    need_input_grad=msg.get("dx_at") is not None,
                                    release_caches=bool(msg.get("release", False)))
        dx_written = []
        if msg.get("dx_at") is not None:
            dx_written = write_arrays(self.exchange, msg["dx_at"],
                                      dx if isinstance(dx, list) else [dx])
        return {"grads": self._write_gradients(model, msg["grads_at"]), "dx": dx_written}

    def _loss(self, spec):
        """The loss of a training request, rebuilt only when its spec changes."""
        from .training import losses

        if self.loss is None or self.loss[0] != spec:
            self.loss = (spec, losses.get(spec))
        return self.loss[1]

    def train(self, msg):
        from ._workers import write_arrays

        model = self.models[msg["key"]]
        xs = _views(self.exchange, msg["inputs"])
        (y,) = _views(self.exchange, [msg["labels"]])
        sw = msg.get("sample_weight")
        sw = None if sw is None else _views(self.exchange, [sw])[0]
        out = model._forward_serial(xs, True)
        values, d_out = self._loss(msg["loss"]).fused_rows(y, out, sw, msg["batch_size"])
        model._backward_serial(d_out, fused_output_activation=True, need_input_grad=False,
                               release_caches=True)
        self.computed = time.perf_counter()
        written = self._write_gradients(model, msg["grads_at"])
        return {"grads": written, "outputs": write_arrays(self.exchange, msg["out_at"], [out]),
                "values": write_arrays(self.exchange, msg["values_at"], [values])[0]}

    def _write_gradients(self, model, grads_at) -> list[int]:
        import numpy as np

        written = []
        for i, (w, at) in enumerate(zip(model.weights, grads_at, strict=True)):
            if at is None or w.grad is None or not w.trainable:
                continue
            g = np.ascontiguousarray(w.grad, dtype=w.value.dtype)
            self.exchange[at:at + g.nbytes] = g.reshape(-1).view(np.uint8)
            written.append(i)
        return written

    def serve(self):
        from ._workers import Inbox, WorkerError, spin_seconds

        inbox = Inbox(self.sock)
        spin_s = spin_seconds()
        if not self._reply({"ready": True, "seq": 0}):
            return
        spin = 0.0  # the first request (a model's setup) may come much later
        while True:
            try:
                data, fds = inbox.receive(spin)
            except (OSError, WorkerError):  # (a message cut off: its reply cannot be sent,
                return                      #  so the parent sees this helper exit instead)
            received = time.perf_counter()
            spin = spin_s
            if not data:
                return  # the parent closed the socket (or died)
            msg = json.loads(data)
            op = msg.get("op")
            if op == "exit":
                return
            started = time.perf_counter()
            self.computed = None
            try:
                if op == "setup":
                    reply = self.setup(msg, fds)
                elif op == "exchange":
                    self.exchange = self._map(fds[0], msg["size"])
                    reply = {}
                elif op == "forward":
                    reply = self.forward(msg)
                elif op == "backward":
                    reply = self.backward(msg)
                elif op == "train":
                    reply = self.train(msg)
                elif op == "drop":
                    if self.models.pop(msg["key"], None) is not None:
                        # a model's layers refer to each other: only the collector frees
                        # them, and with them the mapping of its weights
                        gc.collect()
                    reply = {}
                else:
                    raise ValueError(f"npconv helper: unknown request {op!r}")
            except Exception as err:  # noqa: BLE001 - every failure is answered, not fatal
                reply = {"error": f"{err}", "type": type(err).__name__}
            reply["seq"] = msg.get("seq")
            finished = time.perf_counter()
            reply["busy_s"] = finished - started
            # perf_counter is the system's monotonic clock, the same in the parent: its
            # benchmarks (infer_time.py --phases) put the two processes on one time line
            reply["clock"] = [received, started, self.computed or finished, finished]
            if not self._reply(reply):
                return

    def _reply(self, message: dict) -> bool:
        """Send ``message``; False when the parent has gone (its end of the socket closed
        while this helper was starting or working): the helper then exits quietly."""
        try:
            self.sock.send(json.dumps(message).encode())
        except OSError:
            return False
        return True


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    sock = socket.socket(fileno=int(argv[0]))
    import npconv.layers  # noqa: F401 - registers every layer class before the first setup
    import npconv.layers.base
    import npconv.models.functional  # noqa: F401

    npconv.layers.base.DRAW_WEIGHTS = False  # every weight is mapped from the parent at setup

    _Helper(sock).serve()


if __name__ == "__main__":
    main()
