"""``npconv train``: the command line over :mod:`npconv.training.run`."""

from __future__ import annotations

from . import RESUME_OPTIONS, TRAIN_DEFAULTS, UsageError

#: parser destination -> RunConfig field, for the options that configure a run
_CONFIG_OPTIONS = ("model", "dataset", "epochs", "batch_size", "optimizer", "learning_rate",
                   "validation_split", "seed", "limit", "image_size", "color_mode", "download",
                   "tensorboard")


def _flag(dest: str) -> str:
    return "--lr" if dest == "learning_rate" else "--" + dest.replace("_", "-")


def train_command(args) -> int:
    from ..training import run

    verbose = 0 if args.no_progress else 1
    if args.resume is not None:
        given = [_flag(dest) for dest in (*_CONFIG_OPTIONS, "output")
                 if dest not in RESUME_OPTIONS and getattr(args, dest) is not None]
        if given:
            raise UsageError(f"--resume continues the run with the configuration in its "
                             f"run.json; only --epochs and --lr can be given with it. "
                             f"Received: {', '.join(given)}")
        result = run.resume(args.resume, epochs=args.epochs, learning_rate=args.learning_rate,
                            verbose=verbose, command=args.argv)
    else:
        values = {dest: getattr(args, dest) for dest in _CONFIG_OPTIONS
                  if getattr(args, dest) is not None}
        config = run.RunConfig(**{**TRAIN_DEFAULTS, **values}).validate()
        folder_only = [_flag(dest) for dest in ("image_size", "color_mode")
                       if getattr(args, dest) is not None]
        # (a built-in name is the built-in data set even beside a folder of that name)
        if folder_only and run.known_dataset(config.dataset) is not None:
            verb = "applies" if len(folder_only) == 1 else "apply"
            raise UsageError(f"{' and '.join(folder_only)} {verb} to an image folder "
                             f"(--dataset DIR); the {config.dataset} data set has its own size "
                             f"and channels")
        output = args.output if args.output is not None else run.default_output(config)
        plural = "s" if config.epochs > 1 else ""
        print(f"npconv: training {config.model} on {config.dataset} for {config.epochs} "
              f"epoch{plural}; outputs in {output}", flush=True)
        result = run.train(config, output, verbose=verbose, command=args.argv)
    best = result.metrics.get("val_accuracy")
    print(f"npconv: done; final validation accuracy {best:.4f}, test accuracy "
          f"{result.metrics['test_accuracy']:.4f}; files in {result.output}")
    return 0
