"""The grading tests' tiny master notebook and its synthetic submissions.

``write_master(folder)`` writes ``90_grading_fixture.ipynb`` (setup cell, two exercises, a lesson
cell after them); ``submission(...)`` builds a student's notebook from it with chosen solution
sources, optionally tampering with the other cells.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

LESSON = "90_grading_fixture"
SOLUTIONS = {
    "90-key": 'fixture_key_id = kms.create_key(Description="grading fixture")["KeyMetadata"]["KeyId"]',
    "90-blob": (
        'blob_key = kms.create_key()["KeyMetadata"]["KeyId"]\n'
        'fixture_blob = kms.encrypt(KeyId=blob_key, Plaintext=b"hello grader")["CiphertextBlob"]'
    ),
}
SOLUTIONS["91-key"] = SOLUTIONS["90-key"]
POINTS = {"90-key": 2, "90-blob": 3, "91-key": 2}
OTHER_LESSON = "91_other_fixture"


def _meta(grade_id: str, solution=False, grade=False, points=None, exercise=None, role=None):
    meta = {"nbgrader": {"solution": solution, "grade": grade, "locked": not solution,
                         "grade_id": grade_id, "schema_version": 3}}
    if points is not None:
        meta["nbgrader"]["points"] = points
    if exercise:
        meta["kms_course"] = {"exercise": exercise, "role": role}
    return meta


def master(exercises=("90-key", "90-blob")) -> nbformat.NotebookNode:
    """The master notebook (solutions between the markers) of ``exercises``."""
    cells = [
        new_markdown_cell("# Grading fixture\nTwo tiny exercises.", metadata=_meta("intro")),
        new_code_cell(
            "try:\n"
            "    import fixture_checks  # registers this fixture's checks (in the lab)\n"
            "except ImportError:  # a grading jail hides them, as it hides kms_course.lessons.checks\n"
            "    pass\n"
            "from kms_course import start_sandbox, check\nkms = start_sandbox()",
            metadata=_meta("setup"),
        ),
    ]
    for ex in exercises:
        cells += [
            new_markdown_cell(f"## Exercise {ex}", metadata=_meta(f"{ex}-task")),
            new_code_cell(
                f"# Exercise {ex}\n### BEGIN SOLUTION\n{SOLUTIONS[ex]}\n### END SOLUTION",
                metadata=_meta(f"{ex}-answer", solution=True, exercise=ex, role="solution"),
            ),
            new_code_cell(
                f'check("{ex}")',
                metadata=_meta(ex, grade=True, points=POINTS[ex], exercise=ex, role="check"),
            ),
        ]
    cells.append(new_code_cell('print("keys listed:", "Keys" in kms.list_keys())', metadata=_meta("after")))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def write_masters(folder: Path) -> Path:
    """Write the two master notebooks (90 and 91) into ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(master(), folder / f"{LESSON}.ipynb")
    nbformat.write(master(("91-key",)), folder / f"{OTHER_LESSON}.ipynb")
    return folder


def submission(sources: dict[str, str] | None = None, *, tamper=None) -> nbformat.NotebookNode:
    """A student's notebook: the master with each solution cell's source from ``sources``
    (missing ids keep the stub), then ``tamper(nb)`` applied to it if given."""
    from kms_course.instructor.transforms import RELEASE_STEPS, apply

    nb = apply(master(), RELEASE_STEPS)
    for cell in nb.cells:
        ex = cell.metadata.get("kms_course", {}).get("exercise")
        if cell.metadata.get("kms_course", {}).get("role") == "solution" and sources and ex in sources:
            cell.source = sources[ex]
    if tamper:
        nb = tamper(copy.deepcopy(nb)) or nb
    return nb
