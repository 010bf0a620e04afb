"""A class where some students attack the grader: each attack fails, every honest classmate gets
exactly the right grade, the batch finishes, and nothing a submission started is alive after.

The attacks are the ones found when the grader was first tried as a hostile student would: replay
the masters' solutions found on disk, leave a process behind that rewrites the gradebook or kills
later kernels, stop the grader's processes, write into the course package or HOME, upload more
than the grader can hold, and kill the grader itself. The fixture lesson's rules
(tests/grading_cases/fixture_checks.py) give 2 points for a key described "grading fixture" and
3 for a ciphertext that KMS decrypts to b"hello grader".
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

CASES_DIR = Path(__file__).parent / "grading_cases"
sys.path.insert(0, str(CASES_DIR))

import fixture  # noqa: E402
import fixture_checks  # noqa: E402,F401  (registers the fixture's exercises before forking)

from kms_course import cli  # noqa: E402
from _processes import alive_with  # noqa: E402
from kms_course.instructor.grading import jail  # noqa: E402

REASON = jail.unavailable()
needs_jail = pytest.mark.skipif(REASON is not None, reason=f"no grading jail here: {REASON}")

ROOT = Path(__file__).resolve().parents[1]
KEY, BLOB = fixture.SOLUTIONS["90-key"], fixture.SOLUTIONS["90-blob"]
FULL = {"90-key": 2, "90-blob": 3}
MARKER = f"kms-attack-{os.getpid()}"

REPLAY = """# find the masters (or any notebook with solutions) and replay them; read the grader's
# command line for --masters and --out
import json, os, pathlib
found = []
for top in ("/", "/proc"):
    for path in pathlib.Path(top).rglob("*.ipynb") if top == "/" else []:
        try:
            cells = json.loads(path.read_text())["cells"]
        except Exception:
            continue
        for cell in cells:
            source = "".join(cell.get("source", ""))
            if "### BEGIN SOLUTION" in source:
                exec(source, globals())
                found.append(str(path))
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        found.append(open(f"/proc/{pid}/cmdline").read())
    except OSError:
        pass
print([f for f in found if "masters" in f or "--out" in f])
"""

LEFTOVER = """# a daemon (double fork, setsid) that outlives the kernel, rewrites the gradebook, creates
# keys a later student's check might pick up, and kills every later kernel it can
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        sys.argv[0] = "{MARKER}"
        os.execv(sys.executable, [sys.executable, "-c", '''
import os, signal, time, pathlib
from kms_course import start_sandbox
# only where this really is a jail (bubblewrap is PID 1): were the jail ever broken, this test
# must fail, not kill every process of the machine running it
SAFE = open("/proc/1/comm").read().strip() == "bwrap"
try:
    kms = start_sandbox(quiet=True)
except Exception:
    kms = None
end = time.time() + 90
while time.time() < end:
    for name in ("grades.csv", "manifest.json", "grades.json"):
        try:
            pathlib.Path("{OUT}", name).write_text("forged")
        except OSError:
            pass
    try:
        kms.create_key(Description="grading fixture")
    except Exception:
        pass
    try:
        if SAFE:
            os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    time.sleep(0.05)
''', "{MARKER}"])
    os._exit(0)
time.sleep(0.3)
"""

STOPPER = """# stop every process it can see (the zygote, the workers, the grader, other kernels), but
# not its own kernel (a thread id would stop the whole kernel)
import os, signal
# only where this really is a jail (bubblewrap is PID 1), lest a broken jail stop the machine
SAFE = open("/proc/1/comm").read().strip() == "bwrap"
for pid in range(2, 70000) if SAFE else []:
    if not os.path.exists(f"/proc/self/task/{pid}"):
        try:
            os.kill(pid, signal.SIGSTOP)
        except OSError:
            pass
"""

PLANTER = """# change the course for every later student: the package, the environment, IPython's startup
import os, sys, kms_course
refused = []
targets = [kms_course.__file__, os.path.join(sys.prefix, "kms_course_attack.pth"),
           os.path.join(os.path.dirname(os.__file__), "sitecustomize.py")]
for target in targets:
    try:
        with open(target, "a") as f:
            f.write("\\nimport builtins; builtins.PLANTED = True\\n")
    except OSError as error:
        refused.append(error.errno)
startup = os.path.expanduser("~/.ipython/profile_default/startup")
os.makedirs(startup, exist_ok=True)
open(os.path.join(startup, "00-attack.py"), "w").write("fixture_key_id = 'planted'")
print("refused", len(refused), "of", len(targets))
""" + KEY

UPLOAD = """# store far more than the grader should hold
from kms_course.sandbox.start import client
s3 = client("s3")
s3.create_bucket(Bucket="attack-bucket")
for i in range(8):
    s3.put_object(Bucket="attack-bucket", Key=f"blob{i}", Body=b"x" * (64 * 1024 * 1024))
"""

DISKFILL = """# fill the grader's disk: write into the kernel's connection folder (outside the jail's own
# /tmp), make part of it unreadable, then kill the kernel so that no shutdown cleans it up
import os
from ipykernel.connect import get_connection_file
folder = os.path.dirname(get_connection_file())
open(os.path.join(folder, "{MARKER}"), "w").write("left behind")
os.makedirs(os.path.join(folder, "locked", "deeper"))
open(os.path.join(folder, "locked", "deeper", "junk"), "wb").write(b"j" * 1024 * 1024)
os.chmod(os.path.join(folder, "locked"), 0)
os.kill(0, 9)
"""

#: student -> (solution sources, expected points per exercise)
CLASS = {
    "a_honest": (dict(fixture.SOLUTIONS), FULL),
    "b_replay": ({"90-key": REPLAY}, {"90-key": 0, "90-blob": 0}),
    "c_honest": (dict(fixture.SOLUTIONS), FULL),
    "d_leftover": ({"90-key": LEFTOVER}, {"90-key": 0, "90-blob": 0}),
    "e_honest": (dict(fixture.SOLUTIONS), FULL),
    "f_stopper": ({"90-key": STOPPER, "90-blob": BLOB}, {"90-key": 0, "90-blob": 3}),
    "g_honest": ({"90-key": KEY}, {"90-key": 2, "90-blob": 0}),
    "h_planter": ({"90-key": PLANTER}, {"90-key": 2, "90-blob": 0}),
    "i_honest": (dict(fixture.SOLUTIONS), FULL),
    "j_upload": ({"90-key": UPLOAD, "90-blob": BLOB}, {"90-key": 0, "90-blob": 3}),
    "k_honest": (dict(fixture.SOLUTIONS), FULL),
    "l_linkfolder": (None, {"90-key": 0, "90-blob": 0}),  # a symbolic link to the masters' folder
    "m_linkfile": (None, {"90-key": 0, "90-blob": 0}),  # a symbolic link to a master notebook
    "n_diskfill": ({"90-key": DISKFILL}, {"90-key": 0, "90-blob": 0}),
}


def _package_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((ROOT / "kms_course").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _write_class(subs: Path, out: Path, students=CLASS, masters: Path | None = None) -> None:
    for student, (sources, _) in students.items():
        target = subs / student / f"{fixture.LESSON}.ipynb"
        if student == "l_linkfolder":
            subs.mkdir(parents=True, exist_ok=True)
            (subs / student).symlink_to(masters, target_is_directory=True)
            continue
        target.parent.mkdir(parents=True)
        if student == "m_linkfile":
            target.symlink_to(masters / f"{fixture.LESSON}.ipynb")
            continue
        sources = {k: v.replace("{OUT}", str(out)).replace("{MARKER}", MARKER)
                   for k, v in sources.items()}
        nbformat.write(fixture.submission(sources), target)


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacked")
    masters = fixture.write_masters(root / "masters")
    subs, out = root / "submissions", root / "out"
    _write_class(subs, out, masters=masters)
    before = _package_digest()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join([str(CASES_DIR), os.environ.get("PYTHONPATH", "")]))
        started = time.monotonic()
        code = cli.main(["grade", str(subs), "--out", str(out), "--masters", str(masters),
                         "--lesson", fixture.LESSON, "--jobs", "2", "--cell-timeout", "20",
                         "--timeout", "60", "--no-progress"])
        seconds = time.monotonic() - started
    rows = {r["student"]: r for r in json.loads((out / "grades.json").read_text())["students"]}
    return {"code": code, "rows": rows, "out": out, "before": before, "seconds": seconds}


@needs_jail
def test_batch_finishes_with_a_row_per_student(attacked):
    assert attacked["code"] == 0
    assert set(attacked["rows"]) == set(CLASS)
    assert attacked["seconds"] < 300  # the stopper did not hang the batch


@needs_jail
@pytest.mark.parametrize("student", sorted(CLASS))
def test_every_student_gets_exactly_their_points(attacked, student):
    assert attacked["rows"][student]["exercises"] == CLASS[student][1], attacked["rows"][student]


@needs_jail
@pytest.mark.parametrize("student", ["l_linkfolder", "m_linkfile"])
def test_symbolic_links_are_refused(attacked, student):
    row = attacked["rows"][student]
    assert row["status"] == "symlink" and row["total"] == 0, row


@needs_jail
def test_no_process_of_a_submission_outlives_the_batch(attacked):
    assert alive_with(MARKER) == []


@needs_jail
def test_nothing_a_dead_kernel_wrote_stays_on_the_graders_disk(attacked):
    # a hostile-student trial: files written into the connection folder before the kernel
    # killed itself stayed in the grader's temporary folder for good
    import glob
    import tempfile

    assert attacked["rows"]["n_diskfill"]["status"] == "kernel-died"
    left = glob.glob(os.path.join(tempfile.gettempdir(), "kms-kernel-*", MARKER))
    assert left == []


@needs_jail
def test_the_gradebook_is_the_graders_own(attacked):
    out = attacked["out"]
    with open(out / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(CLASS)
    assert "forged" not in (out / "manifest.json").read_text()


@needs_jail
def test_the_course_package_is_unchanged(attacked):
    assert _package_digest() == attacked["before"]
    assert not list(Path(sys.prefix).glob("kms_course_attack.pth"))


def _descendants(pid: int) -> set[tuple[int, str]]:
    """(pid, start time) of every process below ``pid`` (start time tells a reused pid)."""
    children: dict[int, list[int]] = {}
    start: dict[int, str] = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
        start[int(name)] = fields[19]
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add((child, start[child]))
            todo.append(child)
    return found


def _still_running(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    alive = set()
    for pid, started in processes:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[19] == started and fields[0] != "Z":
            alive.add((pid, started))
    return alive


@needs_jail
def test_killing_the_grader_leaves_nothing_running_and_a_rerun_completes(tmp_path):
    masters = fixture.write_masters(tmp_path / "masters")
    subs, out = tmp_path / "subs", tmp_path / "out"
    slow = {"90-key": KEY + "\nimport time\ntime.sleep(4)", "90-blob": BLOB}
    _write_class(subs, out, {f"s{i}": (slow, FULL) for i in range(4)})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CASES_DIR), os.environ.get("PYTHONPATH", "")])}
    argv = [sys.executable, "-c", "import fixture_checks, sys; from kms_course import cli; "
            "sys.exit(cli.main(sys.argv[1:]))", "grade", str(subs), "--out", str(out),
            "--masters", str(masters), "--lesson", fixture.LESSON, "--jobs", "2", "--no-progress"]
    grader = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        tree: set[tuple[int, str]] = set()
        while time.monotonic() < deadline:  # wait until kernels run inside their jails
            tree = _descendants(grader.pid)
            names = set()
            for pid, _ in tree:
                try:
                    names.add(Path(f"/proc/{pid}/comm").read_text().strip())
                except OSError:
                    pass
            if "bwrap" in names and len(tree) >= 8:
                break
            time.sleep(0.2)
        assert "bwrap" in names, names
        grader.send_signal(signal.SIGKILL)
        grader.wait()
        deadline = time.monotonic() + 10
        while _still_running(tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _still_running(tree) == set()
    finally:
        if grader.poll() is None:
            grader.kill()
    rerun = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    rows = {r["student"]: r for r in json.loads((out / "grades.json").read_text())["students"]}
    assert {s: r["exercises"] for s, r in rows.items()} == {f"s{i}": FULL for i in range(4)}


def _fixture_class(tmp_path: Path) -> tuple[Path, Path, Path]:
    masters = fixture.write_masters(tmp_path / "masters")
    subs, out = tmp_path / "subs", tmp_path / "out"
    _write_class(subs, out, {"a": (dict(fixture.SOLUTIONS), FULL)})
    return masters, subs, out


def test_grade_stops_with_install_advice_when_there_is_no_jail(tmp_path, monkeypatch, capsys):
    masters, subs, out = _fixture_class(tmp_path)
    monkeypatch.setattr(jail.shutil, "which", lambda name: None)
    code = cli.main(["grade", str(subs), "--out", str(out), "--masters", str(masters)])
    err = capsys.readouterr().err
    assert code != 0
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "apt-get install bubblewrap`" in err and "--no-jail" in err
    assert not (out / "grades.csv").exists()


@pytest.mark.parametrize("no_jail", [False, True])
def test_the_gradebook_records_whether_the_batch_was_jailed(tmp_path, monkeypatch, capsys, no_jail):
    if not no_jail and REASON is not None:
        pytest.skip(f"no grading jail here: {REASON}")
    masters, subs, out = _fixture_class(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(CASES_DIR), os.environ.get("PYTHONPATH", "")]))
    argv = ["grade", str(subs), "--out", str(out), "--masters", str(masters), "--jobs", "1",
            "--no-progress", *(["--no-jail"] if no_jail else [])]
    assert cli.main(argv) == 0
    grades = json.loads((out / "grades.json").read_text())
    assert grades["jailed"] is (not no_jail)
    assert grades["students"][0]["exercises"] == FULL
    warned = "--no-jail: student code runs unisolated" in capsys.readouterr().err
    assert warned is no_jail


@needs_jail
def test_grading_works_with_tmpdir_elsewhere_and_leaves_no_connection_folder(tmp_path, monkeypatch):
    # a hostile-student trial: with TMPDIR=/var/tmp/x every submission was kernel-failed (the
    # jail made the connection folder's parents root's own, mode 0700) and left two folders
    import glob
    import tempfile

    masters, subs, out = _fixture_class(tmp_path)
    elsewhere = tmp_path / "elsewhere" / "tmp"
    elsewhere.mkdir(parents=True)
    monkeypatch.setenv("TMPDIR", str(elsewhere))
    monkeypatch.setattr(tempfile, "tempdir", str(elsewhere))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(CASES_DIR), os.environ.get("PYTHONPATH", "")]))
    assert cli.main(["grade", str(subs), "--out", str(out), "--masters", str(masters), "--jobs", "1",
                     "--no-progress"]) == 0
    rows = json.loads((out / "grades.json").read_text())["students"]
    assert [(r["status"], r["exercises"]) for r in rows] == [("ok", FULL)]
    assert glob.glob(str(elsewhere / "kms-kernel-*")) == []


def test_removing_a_connection_folder_never_follows_a_link_out_of_it(tmp_path):
    # what a kernel leaves in its connection folder is deleted; a link it planted there is
    # removed, and what it points to keeps its content and mode
    from kms_course.instructor.grading.zygote import IpcKernelManager

    outside = tmp_path / "instructor-file"
    outside.write_text("keep me")
    outside.chmod(0o600)
    manager = IpcKernelManager()
    folder = Path(manager.ipc_dir)
    (folder / "link").symlink_to(outside)
    (folder / "locked" / "deeper").mkdir(parents=True)
    (folder / "locked" / "deeper" / "junk").write_bytes(b"j" * 1024)
    (folder / "locked").chmod(0)
    manager.remove_connection_dir()
    manager.remove_connection_dir()  # idempotent
    assert not folder.exists()
    assert outside.read_text() == "keep me" and outside.stat().st_mode & 0o777 == 0o600
