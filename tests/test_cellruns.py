"""kms_course.lessons.cellruns alone: which answer cells ran to the end since they last changed.

The runs are fed as IPython's post_run_cell event gives them (an ``ExecutionResult`` with
``info.cell_id`` and ``info.raw_cell``, https://ipython.readthedocs.io/en/stable/config/callbacks.html);
the notebook file is the one ``JPY_SESSION_NAME`` names, as jupyter_server sets it.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from kms_course.lessons import cellruns


def _nb():
    sol = new_code_cell("answer = 42", metadata={"kms_course": {"exercise": "90-x", "role": "solution"}})
    sol["id"] = "sol"
    chk = new_code_cell('check("90-x")', metadata={"kms_course": {"exercise": "90-x", "role": "check"}})
    chk["id"] = "chk"
    return new_notebook(cells=[sol, chk])


def _result(cell_id, source, error=None):
    return SimpleNamespace(info=SimpleNamespace(cell_id=cell_id, raw_cell=source),
                           error_before_exec=None, error_in_exec=error)


def _raised(source: str):
    try:
        exec(compile(source, "<cell>", "exec"), {})
    except Exception as error:  # noqa: BLE001
        return error
    raise AssertionError("did not raise")


@pytest.fixture
def notebook(tmp_path, monkeypatch):
    path = tmp_path / "90_x.ipynb"
    nbformat.write(_nb(), path)
    monkeypatch.setenv(cellruns.SESSION_ENV, str(path))
    return path


def test_nothing_to_say_after_a_clean_run(notebook):
    tracker = cellruns.Tracker()
    tracker.record(_result("sol", "answer = 42"))
    assert cellruns.problem("90-x", {}, tracker) is None


def test_a_cell_that_raised_is_named_with_its_line(notebook):
    tracker = cellruns.Tracker()
    tracker.record(_result("other", "x = 1"))
    tracker.record(_result("sol", "answer = 42\nprint(nope)", _raised("answer = 42\nprint(nope)")))
    assert cellruns.problem("90-x", {}, tracker) == (
        "Your exercise cell raised NameError on line 2: fix it and run it again.")


def test_a_cell_that_never_ran_is_named(notebook):
    tracker = cellruns.Tracker()
    tracker.record(_result("other", "x = 1"))
    assert "has not run since the kernel started" in cellruns.problem("90-x", {}, tracker)


def test_an_edit_saved_after_the_run_counts_as_a_change(notebook):
    tracker = cellruns.Tracker()
    tracker.record(_result("sol", "answer = 41"))
    past = time.time() - 60
    tracker.runs["sol"] = cellruns.Run("sol", cellruns.digest("answer = 41"), True, at=past)
    os.utime(notebook, (time.time(), time.time()))
    assert "changed after it last ran" in cellruns.problem("90-x", {}, tracker)


def test_an_unsaved_file_older_than_the_run_never_looks_changed(notebook):
    tracker = cellruns.Tracker()
    tracker.record(_result("sol", "answer = 41"))  # the file says 42 but is older than the run
    os.utime(notebook, (time.time() - 60, time.time() - 60))
    assert cellruns.problem("90-x", {}, tracker) is None


def test_a_rerun_meeting_what_an_earlier_attempt_made_says_how_to_get_unstuck(notebook):
    tracker = cellruns.Tracker()
    error = type("AlreadyExistsException", (Exception,), {})()
    tracker.record(_result("sol", "kms.create_alias(...)", error))
    message = cellruns.problem("90-x", {}, tracker)
    assert "raised AlreadyExistsException" in message
    assert "kms.delete_alias(AliasName='alias/...')" in message and "kms_course.reset()" in message


def test_without_a_notebook_file_the_state_is_judged_as_it_is(monkeypatch):
    monkeypatch.delenv(cellruns.SESSION_ENV, raising=False)
    tracker = cellruns.Tracker()
    tracker.record(_result("sol", "boom", ValueError("x")))
    assert cellruns.problem("90-x", {}, tracker) is None


def test_a_rerun_stuck_on_an_existing_alias_is_told_which_alias_to_delete():
    """CreateAlias's AlreadyExistsException names the alias (its ARN); the lab names the exact
    delete_alias call (issue 11 item 2), and the bucket of an S3 error that names one."""
    from kms_course.lessons.cellruns import UNSTUCK, unstuck

    message = ("An error occurred (AlreadyExistsException) when calling the CreateAlias "
               "operation: An alias with the name arn:aws:kms:us-east-1:123456789012:"
               "alias/lesson03-orders already exists")
    text = unstuck("AlreadyExistsException", message)
    assert "kms.delete_alias(AliasName='alias/lesson03-orders')" in text
    assert "capstone-docs" in unstuck("BucketAlreadyOwnedByYou", "owned", "capstone-docs")
    assert unstuck("AlreadyExistsException", "no name in it") == UNSTUCK
    assert unstuck("NotFoundException", message) == ""
