"""Hints shown under common notebook mistakes (case C11: moto 4's mock_kms)."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from kms_course.hints import hint_for


def test_old_moto_import_gets_the_one_line_fix():
    try:
        from moto import mock_kms  # noqa: F401  (moto 5 has no mock_kms)
    except ImportError as error:
        hint = hint_for(error)
    assert hint is not None
    assert hint.startswith("Hint: moto 5 has no mock_kms; one mock_aws replaced")


def test_other_import_errors_get_no_hint():
    assert hint_for(ImportError("No module named 'boto4'")) is None
    assert hint_for(ValueError("cannot import name 'mock_kms' from 'moto'")) is None


def test_notebook_shows_error_then_hint_after_setup_cell():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from kms_course import start_sandbox\nkms = start_sandbox(quiet=True)"),
        nbformat.v4.new_code_cell("from moto import mock_kms"),
    ])
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    outputs = nb.cells[1].outputs
    assert [o["output_type"] for o in outputs] == ["error", "stream"]
    assert outputs[0]["ename"] == "ImportError"
    assert outputs[1]["text"].startswith("Hint: moto 5 has no mock_kms")
