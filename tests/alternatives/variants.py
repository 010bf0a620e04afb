"""Student notebooks of every lesson, built from the master, for the batched parity tests.

One notebook carries several cases, one per exercise, so that a lesson costs a few kernels, not
one per case (issue 11, items 2, 4 and 7):

* ``alt``: every answer replaced by its alternative (:mod:`alternatives.solutions`), which
  include answers in two cells (as after JupyterLab's Split Cell) and helpers in cells the
  student added; the first exercise's cell also copied (the copy kept, its code as comments);
* ``mixB``: the first exercise raises after its work (a name never defined), the second left as
  the stub (a partial notebook), the last starts with ``kms_course.reset()``;
* ``full`` and ``blank``: the master's answers, and the student version as released.

:func:`with_attempts` gives the lab's run of ``full``: before each correct answer, two wrong
attempts run in the same cell (one that raised halfway, one that ran but left a wrong answer),
each followed by its check, as a student re-running a cell in one kernel would (item 2).
"""

from __future__ import annotations

import ast
import copy
import textwrap

import nbformat
from nbformat.v4 import new_code_cell

from alternatives import runner
from alternatives.solutions import ALTERNATIVES
from kms_course.lessons.solutions import solution_source
from kms_course.lessons.cells import exercise_id, is_check

RESET = "import kms_course\nkms_course.reset()\n"
ERROR_AFTER_WORK = "\nprint(never_defined_after_the_work)"


def master_answer(ex: str, lesson: str) -> str:
    return solution_source(ex, runner.master_path(lesson).parent)


def statements(text: str) -> list[str]:
    """The top-level statements of ``text``, each with its lines (comments above it kept)."""
    tree = ast.parse(text)
    lines = text.split("\n")
    starts = [min([s.lineno] + [d.lineno for d in getattr(s, "decorator_list", [])]) - 1
              for s in tree.body]
    bounds = starts[1:] + [len(lines)]
    parts = ["\n".join(lines[a:b]).strip("\n") for a, b in zip([0] + starts[1:], bounds)]
    return [p for p in parts if p.strip()]


def halves(text: str) -> tuple[str, str]:
    """``text`` cut at the top-level statement boundary nearest its middle (both parts run)."""
    parts = statements(text)
    cut = max(1, len(parts) // 2)
    return "\n".join(parts[:cut]), "\n".join(parts[cut:])


def bound_names(text: str) -> list[str]:
    """Names ``text`` binds at top level (assignments, imports, for targets, defs), sorted."""
    names: set[str] = set()
    for node in ast.parse(text).body:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                names.add(sub.id)
            elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in sub.names)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
    return sorted(names)


def _replace_answer(nb, ex: str, cells: list[tuple[str, str]], tag: str):
    """Put ``cells`` ((kind, source), see :mod:`alternatives.solutions`) where ``ex``'s solution
    cell is; "solution" parts keep its metadata (a split or a copy), "added" ones have none."""
    original = runner.solution_cell(nb, ex)
    at = nb.cells.index(original)
    made = []
    for number, (kind, text) in enumerate(cells):
        if kind == "solution":
            cell = copy.deepcopy(original)
            cell.source = text
            if any(k == "solution" for k, _ in cells[:number]):
                cell["id"] = f"{original['id']}-{tag}{number}"
        else:
            cell = new_code_cell(text)
            cell["id"] = f"added-{tag}-{ex}-{number}"
        made.append(cell)
    nb.cells[at:at + 1] = made
    return nb


def alternatives_notebook(lesson: str):
    """Every answer replaced by its alternative; the first exercise's last cell also copied (a
    copy kept below it, its code turned into notes). Every lesson's alternatives hold at least
    one answer in two cells (a split) and one with a helper in an added cell."""
    nb = runner.with_answers(lesson)
    exs = runner.exercises_of(lesson)
    for ex in exs:
        cells = list(ALTERNATIVES[ex])
        if ex == exs[0]:
            notes = "# my copy of the cell above, kept as notes\n" + textwrap.indent(cells[-1][1], "# ")
            cells.append(("solution", notes))
        _replace_answer(nb, ex, cells, "alt")
    return nb


def mix_b(lesson: str):
    nb = runner.with_answers(lesson)
    exs = runner.exercises_of(lesson)
    runner.solution_cell(nb, exs[0]).source += ERROR_AFTER_WORK
    stub = runner.solution_cell(runner.student_version(lesson), exs[1]).source
    runner.solution_cell(nb, exs[1]).source = stub
    runner.solution_cell(nb, exs[-1]).source = RESET + master_answer(exs[-1], lesson)
    return nb


def answer_names(ex: str) -> list[str]:
    from kms_course.lessons.exercises import load_all

    return list(load_all()[ex].answers)


def wrong_attempts(ex: str, lesson: str) -> list[str]:
    """Two wrong attempts at ``ex``: the first half of the master, then a raise; the whole
    master with its first own answer variable then set to None (none when it binds none)."""
    text = master_answer(ex, lesson)
    first, _rest = halves(text)
    attempts = [first + "\nraise RuntimeError('my first attempt stops here')"]
    own = [n for n in answer_names(ex) if n in bound_names(text)]
    if own:
        attempts.append(text + f"\n{own[0]} = None  # a wrong answer")
    return attempts


def with_attempts(nb, lesson: str, unstuck: dict[str, str] | None = None):
    """The cells the lab runs for ``nb`` (the ``full`` notebook) when, before each correct
    answer, the student ran :func:`wrong_attempts` in the same cell and checked each.

    ``unstuck[ex]``: after the attempts the correct answer runs and is stuck on what they made;
    then the student runs this cell, as that check told them, and the correct answer again.
    Returns a new notebook (its check cells in order: attempts, then the last)."""
    run = copy.deepcopy(nb)
    for ex in runner.exercises_of(lesson):
        cell = runner.solution_cell(run, ex)
        check = run.cells[runner.check_cell_index(run, ex)]
        at = run.cells.index(cell)
        extra = []
        for text in wrong_attempts(ex, lesson):
            attempt = copy.deepcopy(cell)  # the same cell id: the same cell, run again
            attempt.source = text
            extra += [attempt, copy.deepcopy(check)]
        if unstuck and ex in unstuck:  # the correct answer, stuck; then what its check said
            extra += [copy.deepcopy(cell), copy.deepcopy(check)]
            fix = new_code_cell(unstuck[ex])
            fix["id"] = f"unstuck-{ex}"
            extra.append(fix)
        run.cells[at:at] = extra
    return run


def verdict_runs(ran) -> dict[str, list[str]]:
    """Exercise id -> the text of each of its check cells' outputs, in order."""
    out: dict[str, list[str]] = {}
    for cell in ran.cells:
        if is_check(cell):
            text = "".join(o.get("text", "") + str(o.get("evalue", ""))
                           for o in cell.get("outputs", []))
            out.setdefault(exercise_id(cell), []).append(text)
    return out


def write(nb, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


#: Run between two notebooks in one lab kernel: as after a kernel restart, nothing of the first
#: is left (the student's names, the sandbox's keys and clock, the cell runs, the failure
#: counts), only the imported modules stay (what a restart would cost again).
_NEXT_NOTEBOOK = """\
get_ipython().run_line_magic('reset', '-f')
import os as _os
from kms_course.lessons import cellruns as _cellruns, exercises as _exercises
from kms_course.sandbox import start as _sandbox
if _sandbox.active_backend() is not None:
    _sandbox.reset()
_cellruns.TRACKER.runs.clear()
_exercises.FAILURES.clear()
_os.environ['JPY_SESSION_NAME'] = {path!r}
_os.chdir({folder!r})
del _os, _cellruns, _exercises, _sandbox
"""


def lab_run_many(runs, home, timeout: int = 120):
    """Run several notebooks, one after another, in ONE lab kernel (see :data:`_NEXT_NOTEBOOK`).

    Args:
        runs: ``[(path, nb)]``: the file the lab has open, and the cells run (``nb``; the file's
            own cells when None).
    Returns:
        The executed notebooks, in order.
    """
    import os

    whole = nbformat.v4.new_notebook()
    spans = []
    for path, nb in runs:
        nb = nbformat.read(path, as_version=4) if nb is None else nb
        switch = new_code_cell(_NEXT_NOTEBOOK.format(path=str(path), folder=str(path.parent)))
        switch["id"] = f"next-notebook-{len(spans)}"
        whole.cells.append(switch)
        start = len(whole.cells)
        whole.cells.extend(copy.deepcopy(nb.cells))
        spans.append((start, len(whole.cells)))
    first = runs[0][0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_COURSE_", "JPY_"))}
    env.update(KMS_COURSE_BACKEND="moto", KMS_COURSE_HOME=str(home), JPY_SESSION_NAME=str(first))
    client = runner.LabClient(whole, timeout=timeout, allow_errors=True, kernel_name="python3")
    client.execute(cwd=str(first.parent), env=env)
    out = []
    for start, end in spans:
        part = nbformat.v4.new_notebook()
        part.cells = whole.cells[start:end]
        out.append(part)
    for (start, _end) in spans:  # the switch cell itself must never fail
        switch = whole.cells[start - 1]
        errors = [o for o in switch.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, errors
    return out
