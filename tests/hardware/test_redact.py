"""A sentinel token never reaches disk, the ledger, output, logs or exception text."""

from __future__ import annotations

import logging

import pytest
from qiskit_ibm_runtime.fake_provider import FakeNairobiV2

from qmoe_qiskit.cli import main
from qmoe_qiskit.errors import RuntimeFailure
from qmoe_qiskit.hardware import make_service, scrub
from tests.conftest import train_tiny_run

SENTINEL = "SENTINELtok3n-9f8e7d6c5b4a-DO-NOT-LEAK"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny_run(tmp_path_factory.mktemp("sec") / "r", test_limit=4)


def _tree_leaks(root) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and SENTINEL.encode() in p.read_bytes()]


class _LeakyService:
    """Like a service whose errors echo the credentials (some HTTP stacks do)."""

    def __init__(self, **kwargs):
        assert kwargs.get("token") == SENTINEL  # the token does reach the service object
        self.token = kwargs["token"]

    def backend(self, name):
        return FakeNairobiV2()

    def jobs(self, **_):
        raise ConnectionError(f"GET /jobs?token={self.token} failed")

    def job(self, job_id):
        raise RuntimeError(f"401 for Authorization: Bearer {self.token}")


def test_sentinel_token_never_leaks(run_dir, tmp_path, monkeypatch, capsys, caplog):
    import qiskit_ibm_runtime

    import qmoe_qiskit.hardware.submit as rt

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("QISKIT_IBM_TOKEN", SENTINEL)
    monkeypatch.setattr(rt.time, "sleep", lambda _: None)
    db = tmp_path / "jobs.sqlite"

    def refusing(**kwargs):
        raise ValueError(f"invalid token {kwargs.get('token')!r} for channel")

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", refusing)
    with pytest.raises(RuntimeFailure) as info:
        make_service()
    assert SENTINEL not in str(info.value) and "invalid token" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert main(["submit", str(run_dir), "--backend", "ibm_x", "--ledger", str(db), "--json"]) == 2

    # a service that accepts the token, runs the job, then echoes the token in errors
    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", _LeakyService)
    real_primitive = rt.make_primitive

    def failing_result(*a, **kw):
        prim = real_primitive(*a, **kw)
        if kw.get("tag") is None:
            return prim  # the pricing primitive: never run

        class Job:
            def __init__(self, inner):
                self.inner = inner

            def job_id(self):
                return "job-" + self.inner.job_id()

            def status(self):
                return "ERROR"

            def result(self):
                raise RuntimeError(f"job failed; token={SENTINEL}")

        class P:
            def run(self, pubs):
                return Job(prim.run(pubs))

        return P()

    monkeypatch.setattr(rt, "make_primitive", failing_result)
    assert (
        main(
            [
                "submit",
                str(run_dir),
                "--backend",
                "ibm_x",
                "--ledger",
                str(db),
                "--limit",
                "2",
                "--json",
            ]
        )
        == 0
    )
    for action in ("status", "fetch", "recover", "list"):
        main(["jobs", action, "1", "--ledger", str(db), "--json"])
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text
    assert "***" in text or "error" in text
    assert SENTINEL not in text
    assert not _tree_leaks(tmp_path) and not _tree_leaks(run_dir)
    rows = db.read_bytes()
    assert SENTINEL.encode() not in rows and b"job failed" in rows  # the error was recorded


def test_scrub_patterns(monkeypatch):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", SENTINEL)
    assert SENTINEL not in scrub(f"x {SENTINEL} y")
    assert "abcdefgh12345" not in scrub("Authorization: Bearer abcdefgh12345")
    assert "abcdefgh12345" not in scrub("url?apikey=abcdefgh12345&x=1")
    assert scrub("plain message about tokens") == "plain message about tokens"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("runs/tokenization/d4", "runs/tokenization/d4"),
        ("runs/tokenizers-v2/d4", "runs/tokenizers-v2/d4"),
        ("/data/token_dir/run", "/data/token_dir/run"),
        ("token=abcdefgh1234", "token=***"),
        ('{"token": "abcdefghijkl"}', '{"token": "***"}'),
        ("QISKIT_IBM_TOKEN=abcdefghijklmn", "QISKIT_IBM_TOKEN=***"),
        ("Authorization: Bearer abcdefghijk", "Authorization: Bearer ***"),
        ("api_key=XYZ12345678", "api_key=***"),
    ],
)
def test_only_credential_shaped_strings_are_scrubbed(text, expected):
    """A run path with "token" in a directory name stays usable (jobs fetch follows it)."""
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "variable", ["QISKIT_IBM_TOKEN", "IBM_QUANTUM_TOKEN", "QISKIT_IBM_API_KEY"]
)
def test_every_secret_variable_is_honoured_as_the_token(monkeypatch, variable):
    import qiskit_ibm_runtime

    for name in ("QISKIT_IBM_TOKEN", "IBM_QUANTUM_TOKEN", "QISKIT_IBM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, "sentinel-token-0123456789")
    seen = {}

    def service(**kwargs):
        seen.update(kwargs)
        return "service"

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", service)
    assert make_service() == "service"
    assert seen["token"] == "sentinel-token-0123456789"
