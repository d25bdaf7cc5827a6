"""The fixed costs of one call split over the parent and its helper process, on one clock.

Used by ``infer_time.py --phases`` and ``step_profile.py --phases``. The helper stamps each
reply with ``clock``: ``time.perf_counter()`` when it received the request, started it
(after parsing), finished computing and finished writing its arrays. ``perf_counter`` is
the system's monotonic clock, shared by the two processes, so the parent's own stamps (wrapped
around its functions here) and the helper's fall on one time line. Medians (and the 10th and
90th percentiles) of each phase over many calls, in milliseconds. Never part of CI.
"""

from __future__ import annotations

import os
import time

import numpy as np

_pc = time.perf_counter


def _stamp(marks, owner, name, first, last):
    """Wrap ``owner.name`` to store its first start in ``marks[first]`` and its last end in
    ``marks[last]`` (either may be None)."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        if first is not None:
            marks.setdefault(first, _pc())
        result = original(*args, **kwargs)
        if last is not None:
            marks[last] = _pc()
        return result

    setattr(owner, name, wrapper)


def measure(model, call, calls: int, warmup: int = 30, optimizer=None) -> dict:
    """Run ``call()`` ``warmup + calls`` times; the phases of the last ``calls`` ({name:
    (median, p10, p90) in ms}). ``model`` is the npconv model that ``call`` runs in parts
    (one helper); ``optimizer`` (training) is timed as a phase of its own."""
    from npconv import _workers

    marks: dict = {}
    cls = type(model)
    _stamp(marks, cls, "_forward_serial", "own0", "own1")
    _stamp(marks, cls, "_backward_serial", None, "own1")
    _stamp(marks, _workers.Worker, "_send", "send0", "send1")
    wait = _workers.Worker.wait

    def timed_wait(self, seq):
        marks["wait0"] = _pc()
        reply = wait(self, seq)
        marks["wait1"] = _pc()
        marks["clock"] = reply.get("clock")
        return reply

    _workers.Worker.wait = timed_wait
    if optimizer is not None:
        _stamp(marks, optimizer, "apply_gradients", "opt0", "opt1")
    rows = []
    for k in range(warmup + calls):
        marks.clear()
        start = _pc()
        call()
        end = _pc()
        if k < warmup:
            continue
        m, h = marks, marks.get("clock")
        if h is None or "send0" not in m:
            raise RuntimeError("the call did not run in the helper process (is it ready, "
                               "is the batch large enough?)")
        row = {
            "whole call": end - start,
            "parent: call start -> request sent": m["send1"] - start,
            "  of which the send (JSON, sendmsg)": m["send1"] - m["send0"],
            "helper: request sent -> received": h[0] - m["send1"],
            "helper: parse, views": h[1] - h[0],
            "helper: compute": h[2] - h[1],
            "helper: write results": h[3] - h[2],
            "parent: sent -> own part starts": m["own0"] - m["send1"],
            "parent: own part": m["own1"] - m["own0"],
            "parent: own part -> waits (config check)": m["wait0"] - m["own1"],
            "parent: waiting": m["wait1"] - m["wait0"],
            "reply latency (got - max(written, waits))": m["wait1"] - max(h[3], m["wait0"]),
            "helper ends after parent's part by": h[3] - m["own1"],
            "parent: reply -> call end": end - m["wait1"],
        }
        if optimizer is not None:
            row["  of which the optimizer"] = m["opt1"] - m["opt0"]
        row["fixed: whole - max(own part, helper compute)"] = (
            end - start - max(m["own1"] - m["own0"], h[2] - h[1]))
        rows.append(row)
    return {key: tuple(float(f(np.array([r[key] for r in rows]))) * 1e3
                       for f in (np.median, lambda a: np.percentile(a, 10),
                                 lambda a: np.percentile(a, 90)))
            for key in rows[0]}


def report(title: str, phases: dict) -> None:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"{title} (ms; load average {load})")
    print(f"  {'phase':46s} {'median':>8s} {'p10':>8s} {'p90':>8s}")
    for key, (med, p10, p90) in phases.items():
        print(f"  {key:46s} {med:8.3f} {p10:8.3f} {p90:8.3f}")
