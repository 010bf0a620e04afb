"""``kms-course grade --scheduler``: grading on a real Dask cluster on loopback.

The test starts ``dask scheduler`` and two ``dask worker`` processes (one thread each) on
127.0.0.1, the way an instructor starts them on a cluster
(https://docs.dask.org/en/stable/deploying-cli.html), and stops them at the end. The workers
share no folder with the grader: submissions and masters reach them as bytes. Points come from
the fixture lesson's rules (tests/grading_cases/fixture_checks.py): 2 for a key described
"grading fixture", 3 for a ciphertext of b"hello grader".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

CASES_DIR = Path(__file__).parent / "grading_cases"
sys.path.insert(0, str(CASES_DIR))

import fixture  # noqa: E402
import fixture_checks  # noqa: E402,F401

from kms_course import cli  # noqa: E402
from kms_course.instructor.grading import jail  # noqa: E402

distributed = pytest.importorskip("distributed")
REASON = jail.unavailable()
pytestmark = [
    pytest.mark.skipif(REASON is not None, reason=f"no grading jail here: {REASON}"),
    pytest.mark.slow,
]

KEY, BLOB = fixture.SOLUTIONS["90-key"], fixture.SOLUTIONS["90-blob"]
CLASS = {
    "ana": dict(fixture.SOLUTIONS),
    "ben": None,
    "chloé": {"90-key": KEY},
    "dan": {"90-blob": BLOB},
    "eve": dict(fixture.SOLUTIONS),
    "fay": {"90-key": "fixture_key_id = 'made-up'"},
}
EXPECTED = {
    "ana": {"90-key": 2, "90-blob": 3}, "ben": {"90-key": 0, "90-blob": 0},
    "chloé": {"90-key": 2, "90-blob": 0}, "dan": {"90-key": 0, "90-blob": 3},
    "eve": {"90-key": 2, "90-blob": 3}, "fay": {"90-key": 0, "90-blob": 0},
}
DASK = str(Path(sys.executable).with_name("dask"))


def _env() -> dict[str, str]:
    return {**os.environ,
            "PYTHONPATH": os.pathsep.join([str(CASES_DIR), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two workers on 127.0.0.1; yields (address, worker processes)."""
    scheduler_file = tmp_path / "scheduler.json"
    started = []
    scheduler = subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(scheduler_file)],
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    started.append(scheduler)
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        workers = [
            subprocess.Popen(
                [DASK, "worker", address, "--nthreads", "1", "--nworkers", "1", "--host",
                 "127.0.0.1", "--no-dashboard", "--memory-limit", "0"],
                env=_env(), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            for _ in range(2)
        ]
        started += workers
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address, workers
    finally:
        for process in started:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


def _write_class(folder: Path, students: dict) -> Path:
    for student, sources in students.items():
        target = folder / student / f"{fixture.LESSON}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(fixture.submission(sources), target)
    return folder


def _grade(subs: Path, out: Path, masters: Path, *extra: str) -> dict[str, dict]:
    code = cli.main(["grade", str(subs), "--out", str(out), "--masters", str(masters),
                     "--lesson", fixture.LESSON, "--no-progress", *extra])
    assert code == 0
    return {r["student"]: r for r in json.loads((out / "grades.json").read_text())["students"]}


def test_cluster_grades_equal_a_local_run(cluster, tmp_path, monkeypatch):
    address, _ = cluster
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    masters = fixture.write_masters(tmp_path / "masters")
    subs = _write_class(tmp_path / "subs", CLASS)
    remote = _grade(subs, tmp_path / "remote", masters, "--scheduler", address)
    local = _grade(subs, tmp_path / "local", masters, "--jobs", "2")
    assert {s: r["exercises"] for s, r in remote.items()} == EXPECTED
    assert {s: (r["exercises"], r["total"], r["status"]) for s, r in remote.items()} == {
        s: (r["exercises"], r["total"], r["status"]) for s, r in local.items()}


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(cluster, tmp_path, monkeypatch):
    address, workers = cluster
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    masters = fixture.write_masters(tmp_path / "masters")
    slow = {name: {**(sources or {}), "90-key": (sources or {}).get("90-key", "pass")
                   + "\nimport time\ntime.sleep(2)"} for name, sources in CLASS.items()}
    subs = _write_class(tmp_path / "subs", slow)
    out = tmp_path / "out"

    def kill_one_worker_when_busy():
        # once the first result is in, both workers are busy with the next ones (each
        # submission takes over 2 s) and four submissions are still to come
        deadline = time.monotonic() + 180
        while not list((out / "results").rglob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(workers[0].pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_one_worker_when_busy)
    killer.start()
    rows = _grade(subs, out, masters, "--scheduler", address)
    killer.join()
    assert workers[0].poll() is not None  # the worker really died during the batch
    assert {s: r["exercises"] for s, r in rows.items()} == EXPECTED
    assert all(r["status"] == "ok" for r in rows.values()), rows
    results = list((out / "results").rglob("*.json"))
    assert len(results) == len(CLASS)  # one result per student, none twice


def test_the_local_cluster_grades_like_the_pool(tmp_path, monkeypatch):
    """``--executor dask``: the embedded LocalCluster (forked from its preloaded forkserver)."""
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    masters = fixture.write_masters(tmp_path / "masters")
    subs = _write_class(tmp_path / "subs", CLASS)
    rows = _grade(subs, tmp_path / "out", masters, "--executor", "dask", "--jobs", "2")
    assert {s: r["exercises"] for s, r in rows.items()} == EXPECTED
    assert all(r["status"] == "ok" for r in rows.values()), rows
    assert json.loads((tmp_path / "out" / "grades.json").read_text())["jailed"] is True


def test_the_local_workers_run_no_profiler():
    """Dask's statistical profiler samples every thread of a worker every 10 ms by default
    (``distributed.worker.profile``, https://distributed.dask.org/en/stable/configuration.html);
    it only feeds a dashboard the local cluster does not have, so its workers turn it off."""
    import dask
    from distributed import Client

    from kms_course.instructor.grading.cluster import local_cluster

    with local_cluster(1) as cluster, Client(cluster) as client:
        seen = client.run(lambda: (dask.config.get("distributed.worker.profile.enabled"),
                                   dask.config.get("distributed.admin.system-monitor.interval"),
                                   dask.config.get("distributed.admin.tick.interval")))
        stealing = "stealing" in client.run_on_scheduler(
            lambda dask_scheduler: list(dask_scheduler.extensions))
    assert list(seen.values()) == [(False, "5s", "1s")]
    assert not stealing


# --- bad input (a new user's trial: a traceback and a 66 s hang, a 35 s wait with no advice) ---

def test_a_scheduler_address_of_no_dask_scheme_is_refused_at_once(tmp_path, capsys):
    started = time.monotonic()
    with pytest.raises(SystemExit) as exit_:
        cli.main(["grade", str(tmp_path), "--out", str(tmp_path / "out"),
                  "--scheduler", "nonsense://x"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_.value.code == 2 and time.monotonic() - started < 10
    assert "'nonsense://x' is not a Dask scheduler address" in err and "tcp://" in err


def test_an_unreachable_scheduler_is_one_line_saying_what_to_do(tmp_path, capsys, monkeypatch):
    from kms_course.instructor.grading import cluster as grading_cluster

    monkeypatch.setattr(grading_cluster, "CONNECT_TIMEOUT", 1)
    masters = fixture.write_masters(tmp_path / "masters")
    subs = _write_class(tmp_path / "subs", {"ana": dict(fixture.SOLUTIONS)})
    code = cli.main(["grade", str(subs), "--out", str(tmp_path / "out"), "--masters", str(masters),
                     "--scheduler", "tcp://127.0.0.1:1", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "Traceback" not in err and "report" not in err.lower()
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in err
    assert "`dask scheduler`" in err


def test_dask_missing_is_one_line_saying_what_to_install(monkeypatch):
    from kms_course.errors import CourseError
    from kms_course.instructor.grading import pool
    from kms_course.instructor.grading.worker import GradeConfig

    monkeypatch.setitem(sys.modules, "distributed", None)  # a student-set install has no Dask
    with pytest.raises(CourseError, match=r"needs the instructor set: run `make install`"):
        pool.grade_all([], GradeConfig(), executor="dask")
