"""The ``npconv`` command, run in-process through ``main([...])`` on real Fashion-MNIST data:
a small training run and every file it writes, evaluate and predict on its checkpoint, Ctrl-C
(a real SIGINT) and ``--resume`` to the same weights, image folders, and one-line errors."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from npconv.cli import RESUME_OPTIONS, TRAIN_DEFAULTS, main
from npconv.datasets import lookup
from npconv.io import load_model
from npconv.training import loop
from npconv.training.run import RunConfig, RunConfigError

TRAIN = ["train", "--model", "strided_cnn", "--limit", "512", "--epochs", "3", "--batch-size",
         "64", "--seed", "5", "--no-progress", "--no-download"]
STEPS = 8  # 512 / 64
PNG = b"\x89PNG\r\n\x1a\n"


def call(argv):
    """main(argv) -> (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def has_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "full"
    code, stdout, stderr = call([*TRAIN, "--output", out])
    assert code == 0, stderr
    return out, stdout


# ---------------------------------------------------------------------------- train
def test_train_prints_seed_003s_blocks_and_writes_every_file(run_dir):
    out, stdout = run_dir
    info = json.loads((out / "run.json").read_text())
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [0, 1, 2]
    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [float(r[key]) for r in rows] == history[key]
        assert info["metrics"][key] == history[key][-1]
    for epoch in range(3):
        block = (f"epoch: {epoch}\ntrain: \n\tloss: {history['loss'][epoch]:.4f}\n"
                 f"\taccuracy: {history['accuracy'][epoch]:.4f}\nvalidation: \n"
                 f"\tloss: {history['val_loss'][epoch]:.4f}\n"
                 f"\taccuracy: {history['val_accuracy'][epoch]:.4f}\n" + "-" * 20)
        assert block in stdout
    m = info["metrics"]
    assert f"test: \n\tloss: {m['test_loss']:.4f}\n\taccuracy: {m['test_accuracy']:.4f}" in stdout

    assert info["status"] == "completed" and info["epochs_done"] == 3
    assert info["command"]["argv"] == ["npconv", *TRAIN, "--output", str(out)]
    assert info["config"] == {**RunConfig(**{**TRAIN_DEFAULTS, "model": "strided_cnn",
                                             "limit": 512, "epochs": 3, "seed": 5,
                                             "download": False}).to_json()}
    assert info["versions"]["numpy"] == np.__version__
    assert info["data"]["sizes"] == {"train": 512, "validation": 7000, "test": 3000}
    assert info["data"]["class_names"][9] == "Ankle boot"
    best = int(np.argmax(history["val_accuracy"]))
    assert info["best"] == {"epoch": best, "val_accuracy": history["val_accuracy"][best]}

    for name in ("best.npconv", "last.npconv", "state.json"):
        assert (out / name).is_file()
    assert load_model(out / "last.npconv").optimizer.iterations == 3 * STEPS
    if has_matplotlib():
        from PIL import Image

        for name in ("curves.png", "confusion_matrix.png"):
            assert (out / name).read_bytes()[:8] == PNG
            with Image.open(out / name) as im:
                im.verify()
        assert "curves.png" in info["files"]
    else:
        assert "matplotlib is not installed" in stdout
        assert not (out / "curves.png").exists()


# ---------------------------------------------------------------------------- evaluate / predict
def test_evaluate_reproduces_the_runs_test_metrics(run_dir):
    out, _ = run_dir
    m = json.loads((out / "run.json").read_text())["metrics"]
    code, stdout, stderr = call(["evaluate", out / "last.npconv", "--no-download"])
    assert code == 0, stderr
    assert "3000 samples" in stdout
    assert f"test: \n\tloss: {m['test_loss']:.4f}\n\taccuracy: {m['test_accuracy']:.4f}" in stdout
    code, stdout, _ = call(["evaluate", out / "best.npconv", "--split", "train"])
    assert code == 0 and "train split, 512 samples" in stdout


def test_predict_images_agrees_with_predict_on_the_dataset(run_dir, tmp_path):
    from PIL import Image

    from npconv.datasets import fashion_mnist

    out, _ = run_dir
    code, stdout, stderr = call(["predict", out / "best.npconv", "--dataset", "fashion_mnist",
                                 "--index", "0:4", "--top", "2"])
    assert code == 0, stderr
    lines = stdout.strip().splitlines()
    assert len(lines) == 4
    _, (x_test, y_test) = fashion_mnist.load_data(download=False)
    assert lines[0].startswith("fashion_mnist test[0]: ")
    assert f"| true {y_test[0]} (Ankle boot) | top-2: " in lines[0]

    files = []
    for i in range(4):  # the same pixels as PNG files, to be read back by Pillow
        files.append(tmp_path / f"sample{i}.png")
        Image.fromarray(x_test[i]).save(files[-1])
    code, stdout, stderr = call(["predict", out / "best.npconv", *files, "--top", "2"])
    assert code == 0, stderr
    for line, dataset_line, file in zip(stdout.strip().splitlines(), lines, files, strict=True):
        label, prediction = line.split(": ", 1)
        assert label == str(file)
        predicted, top = prediction.split(" | ")
        assert dataset_line.split(": ", 1)[1].startswith(predicted)
        assert dataset_line.endswith(top)  # the same probabilities, to the printed digits

    # image files after options too (argparse alone stopped at the first option)
    code, mixed, stderr = call(["predict", out / "best.npconv", files[0], "--top", "2",
                                *files[1:]])
    assert code == 0, stderr
    assert mixed == stdout
    code, _, stderr = call(["predict", out / "best.npconv", files[0], "--topp", "2"])
    assert code == 2 and "unrecognized arguments: --topp" in stderr

    rgb = tmp_path / "big.jpg"
    Image.fromarray(np.full((60, 40, 3), 200, np.uint8)).save(rgb)  # resized, made grey
    code, stdout, _ = call(["predict", out / "best.npconv", rgb, "--invert",
                            "--class-names", ",".join("abcdefghij")])
    assert code == 0 and stdout.count("top-3") == 1
    assert re.fullmatch(rf"{re.escape(str(rgb))}: \d \([a-j]\) \| top-3: .*\n", stdout)


# ---------------------------------------------------------------------------- Ctrl-C and resume
def test_ctrl_c_then_resume_ends_with_the_uninterrupted_weights(run_dir, tmp_path, monkeypatch):
    reference, _ = run_dir
    out = tmp_path / "interrupted"
    real_step, calls = loop._train_step, []

    def step_then_ctrl_c(*args):
        calls.append(1)
        if len(calls) == STEPS + 3:  # in the middle of the second epoch
            signal.raise_signal(signal.SIGINT)  # what Ctrl-C sends
        return real_step(*args)

    monkeypatch.setattr(loop, "_train_step", step_then_ctrl_c)
    code, stdout, stderr = call([*TRAIN, "--output", out])
    assert code == 130
    assert stderr.count("\n") == 1 and stderr.startswith("npconv: interrupted")
    assert "after 1 of 3 epochs" in stderr and f"npconv train --resume {out}" in stderr
    assert json.loads((out / "state.json").read_text())["epochs_done"] == 1

    monkeypatch.setattr(loop, "_train_step", real_step)
    code, stdout, stderr = call(["train", "--resume", out, "--no-progress"])
    assert code == 0, stderr
    assert "resuming" in stdout and "epoch: 1\n" in stdout and "epoch: 0\n" not in stdout
    for name in ("last.npconv", "best.npconv"):
        ours, theirs = load_model(out / name), load_model(reference / name)
        for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    assert (out / "history.csv").read_text() == (reference / "history.csv").read_text()
    ours = json.loads((out / "run.json").read_text())
    theirs = json.loads((reference / "run.json").read_text())
    assert ours["metrics"] == theirs["metrics"]
    assert ours["resumed"][0]["command"]["argv"] == ["npconv", "train", "--resume", str(out),
                                                      "--no-progress"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's overflow on the way to NaN
def test_resume_of_a_diverged_run_asks_for_lr_at_once_and_takes_it(tmp_path):
    """The resume of a run that stopped with TrainingDiverged replayed it into the same
    error; now it says so before loading anything, and --lr on the resume trains on."""
    out = tmp_path / "diverged"
    quick = ["train", "--model", "strided_cnn", "--limit", "128", "--epochs", "1",
             "--seed", "5", "--no-progress", "--no-download", "--output", out]
    code, _, stderr = call([*quick, "--lr", "1e9"])
    assert code == 1 and "a new run with a smaller learning rate" in stderr
    code, stdout, stderr = call(["train", "--resume", out, "--no-progress"])
    assert code == 2 and not stdout
    assert re.fullmatch(r"npconv: error: the run in \S+ stopped because its training "
                        r"diverged .* with --lr 1e\+09; .* npconv train --resume \S+ --lr "
                        r"RATE \(e\.g\. --lr 1e\+08\), or start a new run\n", stderr)
    code, stdout, stderr = call(["train", "--resume", out, "--lr", "1e-3", "--no-progress"])
    assert code == 0, stderr
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "completed" and info["config"]["learning_rate"] == 1e-3


def test_ctrl_c_during_the_test_then_resume_finishes_the_run(tmp_path, monkeypatch):
    from npconv.training import run

    out = tmp_path / "run"
    real_plots = run._plots

    def plots_then_ctrl_c(*args):
        signal.raise_signal(signal.SIGINT)
        return real_plots(*args)

    monkeypatch.setattr(run, "_plots", plots_then_ctrl_c)
    argv = [*TRAIN, "--epochs", "1", "--limit", "128", "--output", out]
    code, stdout, stderr = call(argv)
    assert code == 130 and stderr.count("\n") == 1, stderr
    assert "during the test, after all 1 of 1 epochs" in stderr
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    monkeypatch.setattr(run, "_plots", real_plots)
    code, stdout, stderr = call(["train", "--resume", out, "--no-progress"])
    assert code == 0, stderr
    assert "finishing" in stdout and "test accuracy" in stdout
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "completed" and "test_accuracy" in info["metrics"]


# ---------------------------------------------------------------------------- image folders
def test_train_on_an_image_folder_and_predict_with_its_class_names(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, level in (("dark", 40), ("light", 215)):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(20):
            pixels = np.clip(rng.normal(level, 20, (12, 10, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / name / f"{i}.png")
    out = tmp_path / "run"
    code, stdout, stderr = call(["train", "--dataset", tmp_path / "data", "--model", "lenet5",
                                 "--image-size", "16x16", "--color-mode", "rgb", "--epochs", "1",
                                 "--seed", "0", "--no-progress", "--output", out])
    assert code == 0, stderr
    info = json.loads((out / "run.json").read_text())
    assert info["data"]["class_names"] == ["dark", "light"]
    assert info["data"]["input_shape"] == [16, 16, 3]
    assert info["data"]["sizes"] == {"train": 28, "validation": 6, "test": 6}
    code, stdout, _ = call(["predict", out / "last.npconv", tmp_path / "data" / "light" / "0.png"])
    assert code == 0 and ("(dark)" in stdout or "(light)" in stdout)


def _events(folder):
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0,
                                                                         "images": 0})
    acc.Reload()
    return acc


def _image_folder(root, n=20):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, level in (("dark", 40), ("light", 215)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            pixels = np.clip(rng.normal(level, 20, (12, 10, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def test_relative_paths_are_stored_absolute_so_the_run_works_from_anywhere(tmp_path,
                                                                          monkeypatch):
    """Relative --dataset folders and --tensorboard paths were stored as given: evaluate,
    predict and --resume from another folder failed ('unknown dataset') or wrote elsewhere."""
    try:
        import tensorboard  # noqa: F401 - its reader checks the logs
        import tensorboardX  # noqa: F401
        tb_option = ["--tensorboard", "logs/tb"]
    except ImportError:
        tb_option = []
    home, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    _image_folder(home / "data")
    elsewhere.mkdir()
    monkeypatch.chdir(home)
    code, _, stderr = call(["train", "--dataset", "data", "--model", "lenet5", "--image-size",
                            "16x16", "--epochs", "1", "--seed", "0", "--no-progress",
                            "--output", "run", *tb_option])
    assert code == 0, stderr
    config = json.loads((home / "run" / "run.json").read_text())["config"]
    assert config["dataset"] == str(home / "data")
    if tb_option:
        assert config["tensorboard"] == str(home / "logs" / "tb")

    monkeypatch.chdir(elsewhere)
    code, stdout, stderr = call(["evaluate", home / "run" / "last.npconv"])
    assert code == 0 and "test split, 6 samples" in stdout, stderr
    code, stdout, stderr = call(["train", "--resume", home / "run", "--epochs", "2",
                                 "--no-progress"])
    assert code == 0, stderr
    assert not (elsewhere / "logs").exists()  # the logs went to the run's own folder
    if tb_option:  # the resumed session (epoch 1) logged into the run's own folder
        steps = [e.step for e in _events(home / "logs" / "tb" / "train").Scalars("epoch_loss")]
        assert 1 in steps

    # predicting image files needs no dataset at all: the class names are in run.json
    image = home / "data" / "light" / "0.png"
    (tmp_path / "light.png").write_bytes(image.read_bytes())
    (home / "data").rename(home / "moved")
    code, stdout, stderr = call(["predict", home / "run" / "last.npconv", tmp_path / "light.png"])
    assert code == 0, stderr
    assert re.search(r": \d \((dark|light)\) \| top-2: ", stdout)
    code, _, stderr = call(["evaluate", home / "run" / "last.npconv"])
    assert code == 2 and f"dataset folder '{home / 'data'}' does not exist" in stderr


def test_runs_recorded_with_relative_paths_resolve_them_from_their_own_folder(tmp_path,
                                                                             monkeypatch):
    """run.json files written before paths were stored absolute hold them as given; they are
    taken from the folder recorded in run.json's command.cwd."""
    _image_folder(tmp_path / "data")
    out = tmp_path / "run"
    code, _, stderr = call(["train", "--dataset", tmp_path / "data", "--model", "lenet5",
                            "--image-size", "16x16", "--epochs", "1", "--seed", "0",
                            "--no-progress", "--output", out])
    assert code == 0, stderr
    info = json.loads((out / "run.json").read_text())
    info["config"]["dataset"] = "data"
    info["command"]["cwd"] = str(tmp_path)
    (out / "run.json").write_text(json.dumps(info))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, stdout, stderr = call(["evaluate", out / "last.npconv"])
    assert code == 0 and "test split, 6 samples" in stdout, stderr


# ---------------------------------------------------------------------------- other commands
def test_summary_of_a_zoo_model_and_of_a_checkpoint(run_dir):
    out, _ = run_dir
    code, stdout, _ = call(["summary", "lenet5", "--input-shape", "32,32,3", "--num-classes", "5"])
    assert code == 0 and '"lenet5"' in stdout and "(None, 5)" in stdout
    assert "(None, 32, 32, 6)" in stdout
    code, stdout, _ = call(["summary", out / "best.npconv"])
    assert code == 0 and "Total params: 241,546" in stdout


def test_datasets_lists_what_is_found_and_how_to_get_the_rest(monkeypatch, tmp_path):
    code, stdout, _ = call(["datasets"])
    assert code == 0 and "fashion_mnist" in stdout and "cifar10" in stdout
    assert "image folders" in stdout
    _no_datasets(monkeypatch, tmp_path)
    code, stdout, _ = call(["datasets"])
    assert code == 0 and "found" not in stdout.replace("not found", "")
    assert "To get it" in stdout


def test_viz_commands_are_reachable(run_dir, tmp_path):
    out, _ = run_dir
    code, stdout, stderr = call(["viz", "history", out, "--out", tmp_path / "h.png"])
    if has_matplotlib():
        assert code == 0, stderr
        assert (tmp_path / "h.png").read_bytes()[:8] == PNG
    code, _, stderr = call(["viz", "nothing"])
    assert code == 2 and stderr.count("\n") == 1 and "invalid choice: 'nothing'" in stderr


def test_tensorboard_logs_or_a_clear_error(tmp_path):
    try:
        from npconv.callbacks import TensorBoard  # noqa: F401
        available = True
    except ImportError:
        available = False
    argv = [*TRAIN, "--epochs", "1", "--limit", "64", "--output", tmp_path / "run",
            "--tensorboard", tmp_path / "tb"]
    code, _, stderr = call(argv)
    if available:
        assert code == 0, stderr
        assert any((tmp_path / "tb").rglob("*"))
        pytest.importorskip("tensorboard")
        # the first Conv2D's feature maps of 4 validation images (none were written before)
        images = _events(tmp_path / "tb" / "train").Tags()["images"]
        maps = sorted(t for t in images if t.startswith("feature_maps/"))
        assert [t.rsplit("/", 1)[1] for t in maps] == [f"sample_{i}" for i in range(4)], images
    else:
        assert code == 2 and stderr.count("\n") == 1 and "TensorBoard" in stderr
        assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv", [
    ["train"], ["evaluate"], ["predict"], ["summary"], ["datasets"], ["bench"],
    ["check-gradients"], ["viz"], ["viz", "conv-animation"], ["viz", "explain"],
    ["viz", "feature-maps"], ["viz", "filters"], ["viz", "history"]])
def test_help_texts_print_percent_signs_once(argv):
    """argparse %-formats a description only when it holds '%(prog)': train's '70%%' printed
    as '70%%'."""
    code, stdout, _ = call([*argv, "--help"])
    assert code == 0 and stdout
    assert "%%" not in stdout and "%(" not in stdout
    if argv == ["train"]:
        assert "70% validation / 30% test" in " ".join(stdout.split())


def test_train_defaults_are_run_configs():
    config = RunConfig()
    for key, value in TRAIN_DEFAULTS.items():
        assert getattr(config, key) == value, key
    assert RESUME_OPTIONS == {"epochs", "learning_rate", "no_progress", "resume"}


def test_help_and_version_start_without_numpy():
    code = ("import sys; from npconv.cli import main; rc = main(['{}', '--help']); "
            "print(rc, 'numpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code.format("train")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip().endswith("0 False")
    assert "--validation-split" in done.stdout and "seed 20" in done.stdout
    done = subprocess.run([sys.executable, "-c", code.replace("'{}', ", "")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip().endswith("0 False")
    for command in ("train", "evaluate", "predict", "summary", "datasets", "viz",
                    "check-gradients"):
        assert re.search(rf"^ {{4}}{command}\s", done.stdout, re.M), command
    done = subprocess.run([sys.executable, "-m", "npconv.cli", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("npconv ")


# ---------------------------------------------------------------------------- errors
def _no_datasets(monkeypatch, tmp_path):
    for var in ("NPCONV_DATA", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NPCONV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NPCONV_MIRROR", "http://127.0.0.1:9/")  # the discard port: refused
    monkeypatch.setattr(lookup, "SYSTEM_ROOTS", [tmp_path / "system"])


def test_missing_dataset_is_one_line(monkeypatch, tmp_path):
    _no_datasets(monkeypatch, tmp_path)
    code, _, stderr = call(["train", "--no-download", "--output", tmp_path / "run"])
    assert code == 1 and stderr.count("\n") == 1
    assert stderr.startswith("npconv: error: Fashion-MNIST (fashion-mnist) was not found.")
    assert "npconv datasets" in stderr and "To get it" in stderr
    assert str(tmp_path / "cache" / "fashion-mnist") in stderr  # the places searched
    assert "not attempted" in stderr and "allow the download" in stderr


def test_failed_download_one_line_names_the_places_and_the_cause(monkeypatch, tmp_path):
    """The one-line form was 'was not found. Searched: To get it: ... or allow the download':
    no places, no cause, and advice to allow the download that had just failed."""
    _no_datasets(monkeypatch, tmp_path)
    code, _, stderr = call(["train", "--dataset", "mnist", "--epochs", "1",
                            "--output", tmp_path / "run"])
    lines = [line for line in stderr.splitlines() if not line.startswith("npconv: downloading")]
    assert code == 1 and len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith("npconv: error: MNIST (mnist) was not found. Searched: ")
    assert "NPCONV_DATA: not set" in line
    assert str(tmp_path / "cache" / "mnist") in line and str(tmp_path / "system") in line
    assert "Download failed: could not download train-images-idx3-ubyte.gz: " in line
    assert "http://127.0.0.1:9/train-images-idx3-ubyte.gz: ConnectionRefusedError" in line
    assert "allow the download" not in line and "NPCONV_MIRROR" in line
    assert not (tmp_path / "run").exists()
    code, _, stderr = call(["evaluate", tmp_path / "x.npconv"])
    assert code == 1 and stderr.count("\n") == 1


def _corrupt(tmp_path):
    path = tmp_path / "corrupt.npconv"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}" + bytes(100))
    return path


def _truncated(tmp_path, run_dir):
    path = tmp_path / "truncated.npconv"
    path.write_bytes((run_dir[0] / "best.npconv").read_bytes()[:5000])
    return path


@pytest.mark.parametrize("argv, code, needle", [
    ([], 2, "required: COMMAND"),
    (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
    (["train", "--model", "resnet9000"], 2, "unknown model 'resnet9000'"),
    (["train", "--epochs", "-1"], 2, "argument --epochs: expected an int >= 1, got '-1'"),
    (["train", "--epochs", "two"], 2, "expected an int, got 'two'"),
    (["train", "--lr", "0"], 2, "argument --lr"),
    (["train", "--validation-split", "1.5"], 2, "fraction in (0, 1)"),
    (["train", "--dataset", "imagenet"], 2, "unknown dataset 'imagenet'"),
    (["train", "--optimizer", "lamb"], 2, "unknown optimizer 'lamb'"),
    (["train", "--image-size", "28"], 2, "HEIGHTxWIDTH"),
    # (they were ignored for a built-in data set)
    (["train", "--image-size", "32x32"], 2, "--image-size applies to an image folder"),
    (["train", "--color-mode", "rgb", "--image-size", "8x8"], 2,
     "--image-size and --color-mode apply to an image folder"),
    (["train", "--resume", "{run}", "--model", "lenet5"], 2, "only --epochs"),
    (["train", "--resume", "{run}"], 2, "already done 3 of 3 epochs"),
    (["train", "--resume", "{tmp}/nothing"], 1, "not a folder"),
    (["train", "--output", "{run}"], 2, "already holds a run"),
    (["train", "--tensorboard", "{run}/history.csv", "--output", "{tmp}/new"], 2,
     "history.csv is a file, not a folder"),
    (["evaluate", "{tmp}/missing.npconv"], 1, "no such checkpoint"),
    # a run's folder (was "no such checkpoint: DIR", though it exists)
    (["evaluate", "{run}"], 1, "is a folder, not a checkpoint file; give a model file, e.g. "),
    (["predict", "{run}", "--index", "0"], 1, "is a folder, not a checkpoint file"),
    (["summary", "{run}"], 1, "is a folder, not a checkpoint file; give a model file"),
    (["evaluate", "{corrupt}"], 1, "not a valid npconv file"),
    (["evaluate", "{truncated}"], 1, "not a valid npconv file"),
    (["evaluate", "{run}/history.csv"], 1, "history.csv is a text file"),
    (["evaluate", "{run}/best.npconv", "--split", "all"], 2, "invalid choice: 'all'"),
    (["predict", "{run}/best.npconv"], 2, "nothing to predict: give image files, or --index"),
    (["predict", "{run}/best.npconv", "{tmp}/a.png", "--index", "1"], 2, "not both"),
    (["predict", "{run}/best.npconv", "--index", "3:1"], 2, "expected 0 <= A < B"),
    (["predict", "{run}/best.npconv", "--index", "0:10001"], 2, "out of range"),
    (["predict", "{run}/best.npconv", "{tmp}/missing.png"], 1, "no such image file"),
    (["predict", "{run}/best.npconv", "{run}/history.csv"], 1, "cannot read image"),
    (["predict", "{run}/best.npconv", "--index", "0", "--class-names", "a,b"], 2,
     "--class-names gives 2 names"),
    (["summary", "resnet"], 2, "unknown model 'resnet'"),
    (["summary", "lenet5", "--input-shape", "100000,100000,3"], 1,
     "out of memory: Unable to allocate"),
    (["summary", "{run}/best.npconv", "--num-classes", "3"], 2, "apply to zoo models"),
    (["summary", "{tmp}/missing.npconv"], 1, "no such checkpoint"),
])
def test_errors_are_one_line_with_an_exit_code(argv, code, needle, run_dir, tmp_path):
    places = {"run": run_dir[0], "tmp": tmp_path}
    if "{corrupt}" in argv:
        places["corrupt"] = _corrupt(tmp_path)
    if "{truncated}" in argv:
        places["truncated"] = _truncated(tmp_path, run_dir)
    argv = [a.format(**places) for a in argv]
    got, stdout, stderr = call(argv)
    assert got == code, stderr
    assert stderr.startswith("npconv: error: ") and stderr.count("\n") == 1, stderr
    assert needle in stderr
    assert "Traceback" not in stderr + stdout



def test_an_output_folder_under_a_file_is_refused_before_the_data_are_loaded(run_dir,
                                                                             monkeypatch):
    # was "npconv: error: [Errno 20] Not a directory: '.../sub'", raised by mkdir once the
    # data were loaded and the model built
    from npconv.training import run

    def no_data(config):
        raise AssertionError("the data were loaded")

    monkeypatch.setattr(run, "load_splits", no_data)
    out = run_dir[0] / "run.json" / "sub"
    code, stdout, stderr = call([*TRAIN, "--output", out])
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert (f"npconv: error: the output folder {out} cannot be created: "
            f"{run_dir[0] / 'run.json'} is a file, not a folder") in stderr


def _png_claiming(width, height):
    """A few bytes of PNG whose header claims ``width`` x ``height`` pixels."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    return (PNG + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def test_predict_on_a_pipe_or_a_decompression_bomb_is_a_one_line_error(run_dir, tmp_path):
    # a named pipe: Pillow's open() waited for a writer forever (the helper thread below
    # stands in for one, so that without the check the test fails instead of hanging);
    # a 60000 x 60000 PNG header: PIL's DecompressionBombError escaped as a traceback
    import os
    import threading

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    done = threading.Event()

    def writer():
        while not done.wait(0.05):
            with contextlib.suppress(OSError):  # (no reader yet)
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    helper = threading.Thread(target=writer, daemon=True)
    helper.start()
    try:
        code, _, stderr = call(["predict", run_dir[0] / "best.npconv", fifo])
    finally:
        done.set()
        helper.join()
    assert code == 1 and stderr.count("\n") == 1, stderr
    assert f"cannot read image {fifo}: it is a named pipe, not a regular file" in stderr
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_claiming(60000, 60000))
    code, stdout, stderr = call(["predict", run_dir[0] / "best.npconv", bomb])
    assert code == 1 and stderr.count("\n") == 1, stderr
    assert f"cannot read image {bomb}: Image size (3600000000 pixels) exceeds limit" in stderr
    assert "Traceback" not in stderr + stdout

def test_resume_of_a_damaged_state_is_a_one_line_error(run_dir, tmp_path):
    import shutil

    out = tmp_path / "damaged"
    shutil.copytree(run_dir[0], out)
    state = json.loads((out / "state.json").read_text())
    del state["shuffle_rng"]
    (out / "state.json").write_text(json.dumps(state))
    code, stdout, stderr = call(["train", "--resume", out])
    assert code == 1 and stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"npconv: error: not a resumable run: {out / 'state.json'}: "
                             "'shuffle_rng' is missing")
    assert "Traceback" not in stdout + stderr


def test_npconv_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setenv("NPCONV_DEBUG", "1")
    with pytest.raises(RunConfigError, match="unknown model"):
        main(["train", "--model", "resnet"])


def test_bench_prints_every_layer_with_its_cost(capsys):
    assert main(["bench", "strided_cnn", "--batch-size", "2", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("conv2d", "conv2d_1", "conv2d_2", "flatten", "dense", "dense_1", "Total"):
        assert re.search(rf"^{name}\b", out, re.M), name
    assert "images/s" in out


def test_bench_unknown_model_is_a_one_line_error(capsys):
    assert main(["bench", "no_such_model"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("npconv: error:") and "no_such_model" in err[0]


@pytest.mark.parametrize("argv", [["bench", "resnet"], ["check-gradients", "resnet"],
                                  ["bench", "lenet5", "--batch-size", "0"],
                                  ["bench", "lenet5", "--repeats", "x"],
                                  ["bench", "lenet5", "--input-shape", "abc"]])
def test_usage_errors_of_bench_and_check_gradients_exit_2_as_the_others(argv, capsys):
    """An unknown model or a bad option value is a usage error (exit code 2) in every command,
    as in train and summary; it was 1 in bench and check-gradients."""
    from npconv.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("npconv: error:") and err.count("\n") == 1


def test_image_size_is_refused_for_a_built_in_name_that_is_also_a_folder(tmp_path, monkeypatch):
    # "--dataset mnist" is the built-in MNIST even when the current folder has a folder named
    # mnist; --image-size was then not refused (the check asked os.path.isdir) and ignored
    (tmp_path / "mnist" / "a").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    got, _, stderr = call(["train", "--dataset", "mnist", "--image-size", "32x32",
                           "--no-download"])
    assert got == 2, stderr
    assert "--image-size applies to an image folder" in stderr


def test_an_output_folder_that_cannot_be_written_is_refused_before_the_data_are_loaded(
        run_dir, tmp_path, monkeypatch):
    # was "npconv: error: [Errno 1] Operation not permitted: 'ro/run'" (a read-only or
    # immutable folder), raised by mkdir once the data were loaded and the model built
    import os

    from npconv.training import run

    def no_data(config):
        raise AssertionError("the data were loaded")

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: (
        False if os.fspath(p) == os.fspath(locked) else real_access(p, mode, **kw)))
    monkeypatch.setattr(run, "load_splits", no_data)
    code, stdout, stderr = call([*TRAIN, "--output", locked / "run"])
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert (f"npconv: error: the output folder {locked / 'run'} cannot be created: no "
            f"permission to write into {locked}") in stderr
    assert list(locked.iterdir()) == []


def test_an_output_folder_whose_creation_fails_is_a_one_line_error_naming_it(
        run_dir, tmp_path, monkeypatch):
    # mkdir refused after every check (a read-only file system, an immutable folder as
    # root): "[Errno 30] Read-only file system: '.../run'" did not say it was the output folder
    import errno
    import pathlib

    target = tmp_path / "run"

    def refuse(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(pathlib.Path, "mkdir", refuse)
    code, stdout, stderr = call([*TRAIN, "--output", target])
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert (f"npconv: error: the output folder {target} cannot be created: Read-only file "
            "system") in stderr
