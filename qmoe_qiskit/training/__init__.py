"""Training: one loop for every family (:mod:`.loop`), run directories (:mod:`.runs`), and
:func:`train` / :func:`evaluate_run` over them (:mod:`.train`)."""

from .loop import FitOptions, FitResult, FitState, fit, flat_weights, predict
from .runs import LoadedRun, RunConfig, load_run
from .train import (
    accuracy,
    evaluate_run,
    fit_model,
    predict_classes,
    split_validation,
    train,
)

__all__ = [
    "FitOptions",
    "FitResult",
    "FitState",
    "LoadedRun",
    "RunConfig",
    "accuracy",
    "evaluate_run",
    "fit",
    "fit_model",
    "flat_weights",
    "load_run",
    "predict",
    "predict_classes",
    "split_validation",
    "train",
]
