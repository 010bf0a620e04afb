"""Each notebook transform alone, on a three-cell notebook (lesson text, solution, check).

Expected values follow nbgrader's conventions (https://nbgrader.readthedocs.io/en/stable/user_guide/creating_and_grading_assignments.html):
the stub is ``# YOUR CODE HERE`` + ``raise NotImplementedError()``, indented like the BEGIN line;
locked cells carry Jupyter's ``editable``/``deletable`` keys.
"""

from __future__ import annotations

import contextlib
import copy
import io

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from kms_course.instructor.transforms import (
    clear_outputs,
    clear_solutions,
    find_leaks,
    lock_cells,
    probe_answers,
    strip_hidden,
    take_master_cells,
)
from kms_course.lessons.cells import answer_cells
from kms_course.instructor.transforms.clear_solutions import SolutionMarkerError
from kms_course.instructor.transforms.probe_answers import parse_probe_output, probe_source
from kms_course.instructor.transforms.strip_hidden import HiddenMarkerError

SOLUTION = "# task\nif True:\n    ### BEGIN SOLUTION\n    answer = 42\n    ### END SOLUTION\nprint(answer)"


def three_cells(solution: str = SOLUTION):
    sol_meta = {"nbgrader": {"solution": True, "grade": False, "locked": False,
                             "grade_id": "90-x-answer", "schema_version": 3},
                "kms_course": {"exercise": "90-x", "role": "solution"}}
    chk_meta = {"nbgrader": {"solution": False, "grade": True, "locked": True, "points": 1,
                             "grade_id": "90-x", "schema_version": 3},
                "kms_course": {"exercise": "90-x", "role": "check"}}
    text_meta = {"nbgrader": {"solution": False, "grade": False, "locked": True,
                              "grade_id": "intro", "schema_version": 3}}
    check = new_code_cell('check("90-x")', metadata=chk_meta, execution_count=3,
                          outputs=[new_output("stream", name="stdout", text="PASSED")])
    return new_notebook(cells=[
        new_markdown_cell("# Lesson", metadata=text_meta),
        new_code_cell(solution, metadata=sol_meta),
        check,
    ])


def test_clear_solutions_replaces_region_with_indented_stub():
    out = clear_solutions(three_cells())
    assert out.cells[1].source == (
        "# task\nif True:\n    # YOUR CODE HERE\n    raise NotImplementedError()\nprint(answer)"
    )


def test_clear_solutions_stubs_whole_cell_without_markers():
    out = clear_solutions(three_cells("answer = 42"))
    assert out.cells[1].source == "# YOUR CODE HERE\nraise NotImplementedError()"


def test_clear_solutions_leaves_input_unchanged():
    nb = three_cells()
    clear_solutions(nb)
    assert nb.cells[1].source == SOLUTION


@pytest.mark.parametrize("bad", [
    "### BEGIN SOLUTION\nx = 1",
    "x = 1\n### END SOLUTION",
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
])
def test_unbalanced_markers_are_refused(bad):
    with pytest.raises(SolutionMarkerError, match="cell 1"):
        clear_solutions(three_cells(bad))


def test_markers_outside_a_solution_cell_are_refused():
    nb = three_cells()
    nb.cells[2].source = "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"
    with pytest.raises(SolutionMarkerError, match="not a solution cell"):
        clear_solutions(nb)


def test_prose_naming_the_markers_is_not_a_marker():
    nb = three_cells()
    nb.cells[0].source = "Write your code between the `### BEGIN SOLUTION` and `### END SOLUTION` lines."
    assert clear_solutions(nb).cells[0].source == nb.cells[0].source


def test_clear_outputs():
    out = clear_outputs(three_cells())
    assert out.cells[2].outputs == [] and out.cells[2].execution_count is None


def test_lock_cells():
    out = lock_cells(three_cells())
    for index in (0, 2):
        meta = out.cells[index].metadata
        assert (meta["editable"], meta["deletable"], meta["nbgrader"]["locked"]) == (False, False, True)
    meta = out.cells[1].metadata
    assert (meta["editable"], meta["deletable"], meta["nbgrader"]["locked"]) == (True, False, False)


def test_strip_hidden_regions_and_instructor_cells():
    nb = three_cells()
    nb.cells[2].source = 'check("90-x")\n### BEGIN HIDDEN TESTS\nassert secret\n### END HIDDEN TESTS'
    nb.cells[0].metadata["tags"] = ["instructor-only"]
    out = strip_hidden(nb)
    assert len(out.cells) == 2 and out.cells[1].source == 'check("90-x")'
    nb.cells[2].source = "### BEGIN HIDDEN TESTS\nassert secret"
    with pytest.raises(HiddenMarkerError):
        strip_hidden(nb)


def test_take_master_cells_keeps_the_masters_lesson_and_check_cells():
    master = three_cells()
    student = clear_solutions(three_cells())
    student.cells[1].source = "answer = 7"
    student.cells[2].source = 'print("PASSED 90-x")'  # an edited check cell
    student.cells[0].cell_type = "code"  # a re-typed lesson cell (it keeps its metadata)
    out = take_master_cells(student, master)
    assert [c.source for c in out.cells] == ["# Lesson", "answer = 7", 'check("90-x")']
    assert out.cells[0].cell_type == "markdown"
    assert out.cells[1].metadata["kms_course"]["submitted"] is True


def test_take_master_cells_never_restores_the_masters_answer():
    master = three_cells()
    student = three_cells()
    del student.cells[1]  # the student deleted the solution cell
    out = take_master_cells(student, master)
    assert out.cells[1].source == "# YOUR CODE HERE\nraise NotImplementedError()"
    assert out.cells[1].metadata["kms_course"]["submitted"] is False


def _split(student, index, *parts):
    """What JupyterLab's Split Cell does: the parts each keep the cell's metadata."""
    cell = student.cells[index]
    pieces = []
    for number, text in enumerate(parts):
        piece = copy.deepcopy(cell)
        piece.source = text
        if number:
            piece["id"] = f"split-{number}"
        pieces.append(piece)
    student.cells[index:index + 1] = pieces
    return student


def test_take_master_cells_runs_every_part_of_a_split_solution_in_order():
    """Bug: only the first cell carrying the id counted, so a split answer lost its second half."""
    student = _split(clear_solutions(three_cells()), 1, "half = 21", "answer = half * 2")
    out = take_master_cells(student, three_cells())
    assert [c.source for c in out.cells] == ["# Lesson", "half = 21", "answer = half * 2",
                                             'check("90-x")']
    assert [c.metadata["kms_course"]["part"] for c in out.cells[1:3]] == [1, 2]
    assert out.cells[1]["id"] != out.cells[2]["id"]


def test_take_master_cells_matches_by_metadata_not_position_and_keeps_copies():
    """A copied solution cell carries the exercise's id: it is part of the answer, in order."""
    master = three_cells()
    student = clear_solutions(three_cells())
    student.cells[1].source = "answer = 1"
    duplicate = copy.deepcopy(student.cells[1])
    duplicate.source = "answer = answer + 1"
    duplicate["id"] = "copied"
    student.cells.insert(2, duplicate)
    student.cells.insert(0, student.cells.pop())  # the check cell moved to the top
    out = take_master_cells(student, master)
    assert [c.source for c in out.cells] == ["# Lesson", "answer = 1", "answer = answer + 1",
                                             'check("90-x")']


def test_added_cells_belong_to_the_next_exercise_and_trailing_ones_to_none():
    """Bug: a helper function in a cell the student added was dropped, so the answer using it
    raised NameError in the grader while it passed in the lab."""
    student = clear_solutions(three_cells())
    student.cells[1].source = "answer = helper()"
    student.cells.insert(1, new_code_cell("def helper():\n    return 42"))
    student.cells.append(new_code_cell("import os; os._exit(0)"))  # after the last check
    out = take_master_cells(student, three_cells())
    assert [c.source for c in out.cells] == ["# Lesson", "def helper():\n    return 42",
                                             "answer = helper()", 'check("90-x")']
    assert [c.metadata["kms_course"]["added"] for c in out.cells[1:3]] == [True, False]
    assert answer_cells(student)["90-x"] == [student.cells[1], student.cells[2]]


def test_answer_cells_ignores_lesson_and_markdown_cells_and_empty_parts():
    student = clear_solutions(three_cells())
    student.cells.insert(1, new_markdown_cell("my notes"))
    student.cells.insert(1, new_code_cell("   "))
    student.cells[3].source = "answer = 5"
    out = take_master_cells(student, three_cells())
    assert [c.source for c in out.cells] == ["# Lesson", "answer = 5", 'check("90-x")']


def test_probe_replaces_or_follows_the_check_cell():
    nb = three_cells()
    graded = probe_answers(nb, {"90-x": ("answer",)}, "M:")
    assert [c.metadata.get("kms_course", {}).get("role") for c in graded.cells] == [None, "solution", "probe"]
    kept = probe_answers(nb, {"90-x": ("answer",)}, "M:", keep_checks=True)
    assert [c.metadata.get("kms_course", {}).get("role") for c in kept.cells] == [None, "solution", "check", "probe"]


def test_probe_round_trips_plain_data():
    namespace = {"a": "key-id", "b": b"\x00\xffciphertext", "c": {"k": [1, 2.5, True, None]},
                 "d": object()}
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(probe_source(["a", "b", "c", "d", "missing"], "M:"), namespace)
    values = parse_probe_output("noise\n" + buffer.getvalue(), "M:")
    assert values == {"a": "key-id", "b": b"\x00\xffciphertext", "c": {"k": [1, 2.5, True, None]}}


@pytest.mark.parametrize("text", ["", "M:not json", "M:[1]", 'M:{"a": {"value": {"__bytes__": "!!"}}}'])
def test_probe_output_that_is_malformed_gives_nothing(text):
    assert parse_probe_output(text, "M:") == {}


def test_find_leaks():
    from kms_course.instructor.transforms import RELEASE_STEPS, apply

    master = three_cells()
    assert find_leaks(apply(master, RELEASE_STEPS), master) == []
    leaky = apply(master, RELEASE_STEPS)
    leaky.cells[0].source = "```python\n### BEGIN SOLUTION\nanswer = 42\n```"
    leaky.cells[2].outputs = [new_output("stream", name="stdout", text="x")]
    leaky.metadata["note"] = "### END SOLUTION"
    problems = find_leaks(leaky, master)
    assert any("cell 0 (markdown) source contains" in p for p in problems)
    assert any("cell 2 still has outputs" in p for p in problems)
    assert any("notebook metadata" in p for p in problems)
    kept = apply(three_cells("answer = 42"), (strip_hidden, clear_outputs))
    assert any("still holding the master's code" in p for p in find_leaks(kept, three_cells("answer = 42")))
