"""``qmoe evaluate RUN``: test accuracy of a trained run."""

from __future__ import annotations

import json


def register(sub) -> None:
    from ..network import ENGINES

    parser = sub.add_parser("evaluate", help="test accuracy of a training run")
    parser.add_argument("run", help="run directory written by qmoe train")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--engine", choices=ENGINES, help="engine (default: the run's)")
    parser.add_argument("--device", help="auto, cpu or gpu (default: the run's)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..training import evaluate_run

    result = evaluate_run(args.run, engine=args.engine, device=args.device)
    if args.json:
        print(json.dumps({"test_accuracy": result["test_accuracy"]}))
    else:
        print(
            f"test accuracy {result['test_accuracy']:.4f} on {result['test_size']} held-out "
            f"samples (epoch {result['epoch']}, engine {result['engine']})"
        )
    return 0
