"""npconv.bench: the per-layer cost report behind ``npconv bench`` (numbers, not timings)."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest

from npconv.bench import add_bench_subparser, bench_command, bench_model, format_bench
from npconv.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
from npconv.models import zoo
from npconv.models.sequential import Sequential


def _small_model():
    return Sequential([Input(shape=(8, 8, 2)), Conv2D(3, 3, activation="relu"),
                       MaxPooling2D(2), Flatten(), Dense(4, activation="softmax")])


def test_rows_follow_the_layers_with_their_shapes_and_costs():
    model = _small_model()
    report = bench_model(model, batch_size=5, repeats=2, warmup=1)
    assert [r["name"] for r in report.rows] == [layer.name for layer in model.layers]
    assert [r["type"] for r in report.rows] == ["Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    assert [r["output_shape"] for r in report.rows] == [(5, 6, 6, 3), (5, 3, 3, 3), (5, 27),
                                                        (5, 4)]
    conv, pool, flat, dense = report.rows
    # conv: 6*6*3 outputs per image, each 3*3*2 multiply-adds; im2col 5*6*6 rows x 18 floats
    assert conv["macs"] == 5 * 6 * 6 * 3 * 3 * 3 * 2
    assert conv["im2col_bytes"] == 5 * 6 * 6 * 3 * 3 * 2 * 4
    assert conv["activation_bytes"] == 5 * 6 * 6 * 3 * 4
    assert pool["macs"] == 0 and pool["im2col_bytes"] == 0
    assert flat["activation_bytes"] == 5 * 27 * 4
    assert dense["macs"] == 5 * 27 * 4 and dense["im2col_bytes"] == 0
    assert report.total("macs") == conv["macs"] + dense["macs"]
    for r in report.rows:
        assert r["forward_ms"] >= 0 and math.isfinite(r["forward_ms"])
        assert r["backward_ms"] >= 0 and math.isfinite(r["backward_ms"])
    assert report.batch_size == 5 and report.dtype == "float32"


def test_costs_scale_with_the_batch_and_match_the_seed_001_cnn():
    model = zoo.mnist_cnn()
    r1 = bench_model(model, batch_size=1, repeats=1, warmup=0)
    r3 = bench_model(model, batch_size=3, repeats=1, warmup=0)
    for a, b in zip(r1.rows, r3.rows, strict=True):
        assert b["macs"] == 3 * a["macs"]
        assert b["activation_bytes"] == 3 * a["activation_bytes"]
        assert b["im2col_bytes"] == 3 * a["im2col_bytes"]
    # seed 001's CNN: 26*26*32*9 + 11*11*64*288 + 3*3*128*576 + 1152*10 multiply-adds per image
    assert r1.total("macs") == 26 * 26 * 32 * 9 + 11 * 11 * 64 * 288 + 3 * 3 * 128 * 576 + 11520
    assert r1.rows[0]["im2col_bytes"] == 26 * 26 * 9 * 4


def test_weights_untouched_and_no_gradients_left_behind():
    model = _small_model()
    before = model.get_weights()
    bench_model(model, batch_size=2, repeats=1, warmup=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(w.grad is None for w in model.weights)
    assert all(layer.need_input_grad for layer in model.layers)


def test_a_relu_moved_past_its_max_pool_is_timed_at_the_pool(monkeypatch):
    """As the model runs it (npconv.models.fusion): the conv without its ReLU, the pool with
    it after; the report says so."""
    model = _small_model()
    conv, pool = model.layers[:2]
    calls = []
    forward = type(conv).forward

    def spy(self, x, training=False, *, activation=True):
        calls.append((self.name, activation))
        return forward(self, x, training=training, activation=activation)

    monkeypatch.setattr(type(conv), "forward", spy)
    report = bench_model(model, batch_size=3, repeats=1, warmup=0)
    assert (conv.name, False) in calls and (conv.name, True) not in calls
    assert report.notes == [f"{conv.name}'s ReLU runs after {pool.name}, on its output "
                            "(npconv.models.fusion); that row includes it"]
    assert f"note: {report.notes[0]}" in format_bench(report)
    assert bench_model(Sequential([Input(shape=(8, 8, 2)), Conv2D(3, 3, activation="tanh"),
                                   MaxPooling2D(2)]), 2, 1, 0).notes == []


def test_format_lists_every_layer_and_the_totals():
    report = bench_model(_small_model(), batch_size=4, repeats=1, warmup=0)
    text = format_bench(report)
    for r in report.rows:
        assert f"{r['name']} ({r['type']})" in text
    assert "Total" in text and "batch 4" in text and "images/s" in text


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "batch_size"), ({"batch_size": 2.5}, "batch_size"),
    ({"repeats": 0}, "repeats"), ({"warmup": -1}, "warmup"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=f"bench_model: expected {match}"):
        bench_model(_small_model(), **kwargs)


def test_unbuilt_model_is_refused():
    model = Sequential([Dense(3)])
    with pytest.raises(ValueError, match="built npconv model"):
        bench_model(model)


def test_command_line_parser_and_command(capsys):
    parser = argparse.ArgumentParser(prog="npconv")
    add_bench_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "strided_cnn", "--batch-size", "2", "--repeats", "1",
                              "--input-shape", "16,16,1"])
    assert args.handler is bench_command
    assert bench_command(args) == 0
    out = capsys.readouterr().out
    assert 'npconv bench "strided_cnn"' in out and "batch 2" in out
    assert "(2, 8, 8, 32)" in out  # 16x16 input, stride 2, padding 1
    args = parser.parse_args(["bench", "no_such_model"])
    with pytest.raises(ValueError, match="unknown model 'no_such_model'"):
        bench_command(args)


def test_a_lambda_without_a_gradient_is_noted_not_timed_backward():
    from npconv.layers import Lambda

    model = Sequential([Input(shape=(6, 6, 1)), Lambda(lambda x: x / 2, name="first"),
                        Conv2D(2, 3), Lambda(lambda x: x * 2, name="after"),
                        Flatten(), Dense(2)])
    report = bench_model(model, batch_size=2, repeats=1, warmup=0)
    assert [n for n in report.notes if "no gradient" in n] == [
        "after has no gradient (a Lambda without backward=), so its backward is not timed; "
        "the model cannot train through it"]
    assert {r["name"]: r["backward_ms"] for r in report.rows}["after"] == 0.0
