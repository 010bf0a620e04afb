"""`import kms_course` in a student's kernel does not import nbformat (its validator imports
jsonschema and its format checkers: over a second, measured with `python -X importtime`)."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat


def test_import_kms_course_leaves_nbformat_and_jsonschema_unimported():
    code = ("import sys, kms_course, kms_course.lessons.cellruns, kms_course.lessons.cells; "
            "from kms_course.lessons.exercises import load_all; load_all(); "  # a check's first run
            "print(sorted(m for m in ('nbformat', 'jsonschema') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_transforms_package_still_gives_the_step_functions():
    import kms_course.instructor.transforms.strip_hidden  # the submodule bound first by the import system
    from kms_course.instructor import transforms
    from kms_course.instructor.transforms import RELEASE_STEPS, strip_hidden

    assert callable(strip_hidden)
    assert strip_hidden.__module__ == "kms_course.instructor.transforms.strip_hidden"
    assert [s.__name__ for s in RELEASE_STEPS] == [
        "strip_hidden", "clear_solutions", "clear_outputs", "lock_cells"]
    assert transforms.take_master_cells.__name__ == "take_master_cells"


def test_cellruns_reads_a_v4_notebook_as_nbformat_does(tmp_path):
    from kms_course.lessons.cellruns import read_notebook
    from kms_course.lessons.cells import source

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    mine = read_notebook(path)
    assert [c["id"] for c in mine["cells"]] == [c["id"] for c in nb.cells]
    assert source(mine["cells"][0]) == "x = 1"  # on disk a list of lines; source() joins them
    old = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [
        {"cells": [{"cell_type": "code", "input": "y = 2", "outputs": [], "metadata": {}}]}]}
    (tmp_path / "old.ipynb").write_text(json.dumps(old))
    assert read_notebook(tmp_path / "old.ipynb").cells[0].source == "y = 2"
