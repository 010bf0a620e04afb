"""A result is trusted on a re-run only if the grader can prove it wrote it (issue 10 item 2).

Bug: OUT/manifest.json held a plain SHA-256 per result file, which any writer of OUT can compute:
a forged result plus a forged entry was accepted by the re-run ("already graded").
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import threading

import pytest
from gradebook_support import (  # noqa: F401
    FULL,
    LESSON,
    WAIT_FOR_FLAG,
    grade,
    grade_args,
    grading_env,
    journal_names,
    rows,
    start_grader,
    wait_for,
    write_submission,
)

from kms_course.errors import CourseError
from kms_course.instructor.grading import grader_key, manifest
from kms_course.instructor.grading.grader_key import KEY_FILE_ENV, load_key, sign, verify

NAME = f"results/ana/{LESSON}.json"


# --- the key ----------------------------------------------------------------------------------

def test_key_is_made_once_0600_in_a_0700_folder(tmp_path, monkeypatch):
    path = tmp_path / "state" / "kms-course" / "grader.key"
    key = load_key(path)
    assert len(key) == 32 and load_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["grader.key"]  # no temporary left


def test_default_key_lives_in_the_xdg_state_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert grader_key.key_path() == tmp_path / "xdg" / "kms-course" / "grader.key"
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "elsewhere.key"))
    assert grader_key.key_path() == tmp_path / "elsewhere.key"


def test_graders_starting_together_share_one_key(tmp_path):
    path = tmp_path / "state" / "grader.key"
    keys, barrier = [], threading.Barrier(8)

    def make():
        barrier.wait()
        keys.append(load_key(path))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1


@pytest.mark.parametrize("problem,message", [
    ("readable", "is readable by others (mode 0644): run `chmod 600"),
    ("damaged", "is damaged (not 64 hex digits): delete it"),
    ("symlink", "cannot read the grader key"),
])
def test_unusable_key_is_refused_with_what_to_do(tmp_path, problem, message):
    path = tmp_path / "grader.key"
    if problem == "symlink":
        (tmp_path / "real").write_text("00" * 32)
        os.symlink(tmp_path / "real", path)
    else:
        path.write_text("00" * 32 if problem == "readable" else "not hex")
        os.chmod(path, 0o644 if problem == "readable" else 0o600)
    with pytest.raises(CourseError, match="grader key") as error:
        load_key(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_tag_covers_name_and_bytes():
    key = bytes(range(32))
    tag = sign(key, NAME, b"{}")
    assert verify(key, NAME, b"{}", tag)
    assert not verify(key, NAME, b"{ }", tag)
    assert not verify(key, "results/bob/x.json", b"{}", tag)  # a copy under another name
    assert not verify(bytes(32), NAME, b"{}", tag)
    assert tag != hashlib.sha256(b"{}").hexdigest()


# --- the manifest and its journal ---------------------------------------------------------------

def test_journal_entries_count_and_a_cut_line_is_ignored(tmp_path):
    manifest.save(tmp_path, {"results/a/x.json": "1" * 64})
    manifest.append(tmp_path, "results/b/y.json", "2" * 64)
    with open(tmp_path / manifest.JOURNAL, "a") as f:
        f.write('{"name": "results/c/z.json", "hm')  # killed in the middle of a line
    loaded = manifest.load(tmp_path)
    assert loaded.entries == {"results/a/x.json": "1" * 64, "results/b/y.json": "2" * 64}
    assert loaded.legacy == []
    manifest.save(tmp_path, loaded.entries)
    assert not (tmp_path / manifest.JOURNAL).exists()


def test_old_manifest_is_legacy(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"about": "x", "results": {NAME: "ab" * 32}}))
    loaded = manifest.load(tmp_path)
    assert loaded.entries == {} and loaded.legacy == [NAME]


def test_forged_result_and_entry_are_quarantined_and_graded_again(tmp_path, grading_env):
    masters, subs, out = grading_env, tmp_path / "subs", tmp_path / "out"
    write_submission(subs / "ana", {})
    write_submission(subs / "bob", FULL)
    argv = grade_args(subs, out, masters)
    assert grade(*argv)[0] == 0
    assert {s: r["total"] for s, r in rows(out).items()} == {"ana": "0", "bob": "5"}
    # the attacker: full marks in ana's own result, and every entry an attacker can compute
    path = out / NAME
    result = json.loads(path.read_text())
    for item in result["exercises"].values():
        item.update(points=item["max_points"], passed=True)
    result["total"] = 5
    data = json.dumps(result, indent=1, sort_keys=True).encode()
    path.write_bytes(data)
    entries = json.loads((out / "manifest.json").read_text())
    entries["results"][NAME] = hashlib.sha256(data).hexdigest()
    (out / "manifest.json").write_text(json.dumps(entries))
    manifest.append(out, NAME, "0" * 64)
    code, stdout, _ = grade(*argv)
    assert code == 0
    assert f"ignored a result file the grader did not write: {NAME} (moved to quarantine/)" in stdout
    assert "Graded 1 submission(s)" in stdout and "skipped 1 already graded" in stdout  # bob kept
    assert {s: r["total"] for s, r in rows(out).items()} == {"ana": "0", "bob": "5"}
    assert json.loads((out / "quarantine" / "ana" / f"{LESSON}.json").read_text())["total"] == 5
    assert json.loads(path.read_text())["total"] == 0


def test_manifest_of_an_older_version_is_not_trusted(tmp_path, grading_env):
    masters, subs, out = grading_env, tmp_path / "subs", tmp_path / "out"
    write_submission(subs / "ana", FULL)
    write_submission(subs / "bob", {})
    argv = grade_args(subs, out, masters)
    assert grade(*argv)[0] == 0
    # what kms-course wrote before: result file -> SHA-256 of its bytes
    old = {name: hashlib.sha256((out / name).read_bytes()).hexdigest()
           for name in manifest.load(out).entries}
    (out / "manifest.json").write_text(json.dumps({"about": "old", "results": old}))
    code, stdout, _ = grade(*argv)
    assert code == 0
    lines = [line for line in stdout.splitlines() if line.startswith("  ")]
    assert lines == ["  manifest.json was written by an older kms-course (plain SHA-256, which "
                     "student code could forge): its 2 result(s) are not trusted and are graded "
                     "again (moved to quarantine/)"]
    assert "Graded 2 submission(s)" in stdout
    assert {s: r["total"] for s, r in rows(out).items()} == {"ana": "5", "bob": "0"}
    assert set(manifest.load(out).entries) == set(old)  # the new manifest has tags again
    assert grade(*argv)[1].count("Graded 0 submission(s)") == 1


def test_results_finished_before_a_kill_9_are_kept(tmp_path, grading_env):
    """The grader (and its workers) killed with SIGKILL mid-batch: the journal holds the tags of
    the results already written, so the re-run reuses them and grades only the rest."""
    masters, subs, out, flag = grading_env, tmp_path / "subs", tmp_path / "out", tmp_path / "go"
    write_submission(subs / "ana", FULL)
    write_submission(subs / "bob", {"90-key": WAIT_FOR_FLAG.format(flag=str(flag))})
    argv = grade_args(subs, out, masters, "--jobs", "2", "--no-jail")  # bob's kernel sees the flag
    grader = start_grader(argv)
    try:
        wait_for(lambda: NAME in journal_names(out), 120, "ana's result", grader)
    finally:
        os.killpg(grader.pid, signal.SIGKILL)
        grader.communicate()
    assert not (out / "grades.csv").exists()
    flag.write_text("go")
    code, stdout, _ = grade(*argv)
    assert code == 0 and "Graded 1 submission(s)" in stdout and "skipped 1 already graded" in stdout
    assert "ignored" not in stdout
    assert {s: r["total"] for s, r in rows(out).items()} == {"ana": "5", "bob": "2"}, (
        (out / "results" / "bob" / f"{LESSON}.json").read_text())
