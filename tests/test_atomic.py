"""``kms_course.atomic``: a file is replaced only by complete new content, with the usual mode."""

from __future__ import annotations

import os

import pytest

from kms_course.atomic import atomic_write, atomic_write_text, current_umask


def test_failure_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "grades.csv"
    target.write_text("old")

    def half_then_fail(f):
        f.write(b"half of the new content")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["grades.csv"]


def test_new_files_get_open_s_mode_and_replaced_files_keep_theirs(tmp_path):
    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        atomic_write_text(tmp_path / "deep" / "new.txt", "é")  # the folder is created
        assert (tmp_path / "deep" / "new.txt").stat().st_mode & 0o777 == 0o640
        assert (tmp_path / "deep" / "new.txt").read_bytes() == "é".encode()
        (tmp_path / "kept.txt").write_text("x")
        os.chmod(tmp_path / "kept.txt", 0o600)
        atomic_write_text(tmp_path / "kept.txt", "y")
        assert (tmp_path / "kept.txt").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
