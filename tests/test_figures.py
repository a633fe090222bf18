"""Library calls draw through matplotlib's object API and leave the caller's backend alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import REPO


def test_training_and_reports_keep_the_callers_backend_and_never_load_pyplot(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys, json
        sys.path.insert(0, {str(REPO)!r})
        import matplotlib
        matplotlib.use("svg")  # a backend the library must not replace
        from tests.conftest import train_tiny_run
        from qmoe_qiskit.experiments.sweep import load_sweep, run_sweep
        from qmoe_qiskit.experiments.sweep_report import write_sweep_report
        from pathlib import Path
        run = train_tiny_run(Path({str(tmp_path / "run")!r}), test_limit=8)
        assert (run / "training_curve.png").read_bytes()[:4] == b"\\x89PNG"
        job = {str(tmp_path / "job.toml")!r}
        open(job, "w").write('[defaults]\\nengine = "torch"\\ndevice = "cpu"\\n'
                             'test_limit = 8\\ntrain_limit = 16\\nepochs = 1\\n'
                             '[[grid]]\\nspec = "qmoe-digits4-pca8"\\n')
        run_sweep(load_sweep(job), {str(tmp_path / "sweep")!r}, log=lambda _: None)
        report = write_sweep_report({str(tmp_path / "sweep")!r}, {str(tmp_path / "report")!r})
        print(json.dumps([matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    backend, pyplot = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    assert backend == "svg" and pyplot is False
    assert (tmp_path / "report" / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
