"""``kms_course.atomic``: temporaries of dead writers are removed, those of live ones kept.

A temporary ``.<name>.kms-course-<pid>-<hex>.part`` is removed by the next write to ``<name>``
when nobody holds its ``flock`` and its writer is gone; see the module docstring.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import pytest

from kms_course import atomic
from kms_course.atomic import atomic_write, remove_stale_temporaries, temporary_name

fcntl = pytest.importorskip("fcntl")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _make(path, content=b"half"):
    path.write_bytes(content)
    return path


def _age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_temporary_names_say_whose_and_for_what(tmp_path):
    name = temporary_name(tmp_path / "grades.csv")
    assert name.startswith(f".grades.csv.kms-course-{os.getpid()}-") and name.endswith(".part")
    assert temporary_name(tmp_path / "grades.csv") != name
    long = temporary_name(tmp_path / ("x" * 250))
    assert len(long) < 255  # still a valid file name


def test_a_dead_writer_s_temporary_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "out.bin"
    stale = _make(tmp_path / temporary_name(target, pid=_dead_pid()))
    atomic_write(target, lambda f: f.write(b"new"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    assert not stale.exists()


def test_a_live_writer_s_locked_temporary_is_kept(tmp_path):
    target = tmp_path / "out.bin"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\n"
         "time.sleep(60)\n",
         str(tmp_path / "placeholder")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        live = tmp_path / temporary_name(target, pid=holder.pid)
        assert holder.stdout.readline().strip() == "locked"
        os.rename(tmp_path / "placeholder", live)  # the lock belongs to the file, not its name
        _age(live, 7200)  # even an old file: its lock is held
        assert remove_stale_temporaries(target) == []
        assert live.exists()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert remove_stale_temporaries(target) == [live]  # its writer died: now it goes


def test_a_live_pid_without_the_lock_is_kept_while_young_and_removed_when_old(tmp_path):
    """PID reuse: a live process with the PID in the name but not holding the lock."""
    target = tmp_path / "out.bin"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        young = _make(tmp_path / temporary_name(target, pid=other.pid))
        assert remove_stale_temporaries(target) == []  # could be a writer about to lock it
        _age(young, 60)
        assert remove_stale_temporaries(target) == [young]
    finally:
        other.kill()
        other.wait()


def test_this_process_s_own_leftover_is_removed_but_not_a_file_being_written(tmp_path):
    target = tmp_path / "out.bin"
    leftover = _make(tmp_path / temporary_name(target))  # e.g. an earlier run with our PID
    seen_during_write = []

    def write(f):
        # a second writer to the same target, in the middle of this one
        atomic_write(target, lambda g: g.write(b"inner"))
        seen_during_write.extend(p.name for p in tmp_path.iterdir() if p.name.endswith(".part"))
        f.write(b"outer")

    atomic_write(target, write)
    assert not leftover.exists()
    assert len(seen_during_write) == 1  # the outer write's own temporary was left alone
    assert target.read_bytes() == b"outer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_only_our_own_names_for_this_target_are_touched(tmp_path):
    target = tmp_path / "out.bin"
    dead = _dead_pid()
    keep = [
        _make(tmp_path / temporary_name(tmp_path / "other.bin", pid=dead)),  # another target
        _make(tmp_path / ".out.bin.backup.part"),  # not our pattern
        _make(tmp_path / f".out.bin.kms-course-{dead}-nothex123456.part"),
        _make(tmp_path / "out.bin.kms-course.part"),
    ]
    for path in keep:
        _age(path, 7 * 86400)
    link = tmp_path / temporary_name(target, pid=dead)
    link.symlink_to(keep[1])  # a symbolic link with our name is never followed or removed
    folder = tmp_path / temporary_name(target, pid=dead)
    folder.mkdir()
    assert remove_stale_temporaries(target) == []
    assert all(p.exists() for p in keep) and link.is_symlink() and folder.is_dir()


def test_temporaries_of_earlier_versions_are_removed_once_an_hour_old(tmp_path):
    target = tmp_path / "out.bin"
    legacy = _make(tmp_path / ".out.bin.a1b2_c3d.part")  # tempfile.mkstemp's 8 characters
    assert remove_stale_temporaries(target) == []
    _age(legacy, atomic.LEGACY_STALE_SECONDS + 60)
    assert remove_stale_temporaries(target) == [legacy]


def test_the_temporary_is_private_until_complete_and_then_gets_the_usual_mode(tmp_path):
    target = tmp_path / "out.txt"
    modes = []

    def write(f):
        f.write(b"secret")
        modes.append(stat.S_IMODE(os.fstat(f.fileno()).st_mode))

    umask = os.umask(0)
    try:
        atomic_write(target, write)
    finally:
        os.umask(umask)
    assert modes == [0o600]
    assert stat.S_IMODE(target.stat().st_mode) == 0o666


def test_a_keyboard_interrupt_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def write(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, write)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
