"""``qmoe evaluate RUN``: test accuracy of a trained run (optionally under a backend's noise)."""

from __future__ import annotations

import json


def register(sub) -> None:
    from ..engines import ENGINES
    from .common import HelpFormatter, positive_int

    parser = sub.add_parser(
        "evaluate", help="test accuracy of a training run", formatter_class=HelpFormatter
    )
    parser.add_argument("run", metavar="RUN", help="run directory written by qmoe train")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--engine", choices=ENGINES, help="engine (default: the run's)")
    parser.add_argument("--device", help="auto, cpu, gpu or cuda:N (default: the run's)")
    parser.add_argument(
        "--noise",
        metavar="fake_NAME",
        help="also evaluate on Aer with this fake backend's noise model (default: none)",
    )
    parser.add_argument("--noise-profile", default="default", help="transpile profile for --noise")
    parser.add_argument(
        "--noise-limit",
        type=positive_int,
        help="--noise: first N test samples only (default: all)",
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..training import evaluate_run, load_run

    result = evaluate_run(args.run, engine=args.engine, device=args.device)
    noisy = None
    if args.noise:
        from ..hardware import noisy_accuracy

        loaded = load_run(args.run)
        data = loaded.config.load_data()
        stop = args.noise_limit or len(data.y_test)
        noisy = noisy_accuracy(
            loaded.model,
            loaded.weights,
            data.x_test[:stop],
            data.y_test[:stop],
            args.noise,
            profile=args.noise_profile,
        )
    if args.json:
        out = {"test_accuracy": result["test_accuracy"]}
        if noisy is not None:
            out.update(
                ideal_accuracy=noisy.ideal_accuracy,
                noisy_accuracy=noisy.noisy_accuracy,
                noise_backend=noisy.backend,
                noise_test_size=noisy.test_size,
                noise_agreement=noisy.agreement,
            )
        print(json.dumps(out))
    else:
        print(
            f"test accuracy {result['test_accuracy']:.4f} on {result['test_size']} held-out "
            f"samples (epoch {result['epoch']}, engine {result['engine']})"
        )
        if noisy is not None:
            print(
                f"{noisy.backend} (profile {noisy.profile}, {noisy.test_size} samples, Aer "
                f"density matrix): ideal accuracy {noisy.ideal_accuracy:.4f}, noisy accuracy "
                f"{noisy.noisy_accuracy:.4f}, same prediction {noisy.agreement:.3f}, "
                f"mean |shift| {noisy.mean_abs_shift:.4f}"
            )
    return 0
