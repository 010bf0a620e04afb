"""otter-grader on one of this course's lessons, for bench_grading.py (not part of kms_course).

Converts the lesson's master notebook into an otter master (otter-grader's Jupyter notebook
format: a ``# ASSIGNMENT CONFIG`` raw cell, then per exercise a ``# BEGIN QUESTION`` raw cell,
a prompt, the solution between ``# BEGIN SOLUTION`` / ``# END SOLUTION``, a ``# BEGIN TESTS`` /
``# END TESTS`` block and ``# END QUESTION``;
https://otter-grader.readthedocs.io/en/latest/otter_assign/notebook_format.html),
runs ``otter assign`` on it, and grades each student notebook with ``otter run -a
<autograder zip>`` (one submission per call: ``otter run`` takes a single submission), three at a
time: one more than this 2-core machine's cores, so that otter's start-up waits overlap (kms-course
grades with one worker per core).

What otter's tests compare: each exercise's test is ``kms_course.lessons.exercises.run_check(id,
kms, values)`` on the variables the check reads (``Exercise.answers``), asserting the verdict
passed; so otter awards the same points for the same KMS state as our check (DescribeKey /
ListAliases of the student's key), but the test runs in the student's kernel, unprotected (as with
nbval and nbgrader), not in the grader's process. Our check cells are dropped (otter's tests replace
them). otter-grader is never a project dependency: it runs from its own virtual environment
(``--otter-venv``); the kernel is this project's Python with otter's packages appended to its
``sys.path`` (``kms_course`` and its pinned libraries come first).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

from _measure import Measured, run_measured

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
# no ``name``: otter run would then refuse notebooks without otter's assignment-name metadata,
# and the class is this course's release, not otter's
ASSIGNMENT_CONFIG = """# ASSIGNMENT CONFIG
init_cell: false
check_all_cell: false
export_cell: false
run_tests: false
solutions_pdf: false
generate: true
"""

# one otter run per submission, `jobs` at a time; run by the otter venv's Python
DRIVER = """
import concurrent.futures, os, subprocess, sys
otter, zip_path, out, jobs, *subs = sys.argv[1:]
def one(item):
    n, sub = item
    os.makedirs(f"{out}/{n:04d}")
    return subprocess.run([otter, "run", "--no-logo", "-a", zip_path, "-o", f"{out}/{n:04d}", sub],
                          capture_output=True, text=True)
with concurrent.futures.ThreadPoolExecutor(int(jobs)) as pool:
    failed = [p for p in pool.map(one, enumerate(subs)) if p.returncode]
for p in failed[:1]:
    print(p.stdout[-1500:], p.stderr[-1500:], file=sys.stderr)
sys.exit(1 if failed else 0)
"""


def otter_master(lesson: str):
    """The lesson's master notebook in otter's format (see the module's docstring)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_raw_cell

    from kms_course.lessons.exercises import load_all
    from kms_course.lessons.cells import exercise_id, is_check, is_solution

    exercises = load_all()
    master = nbformat.read(ROOT / "notebooks" / f"{lesson}.ipynb", 4)
    cells = [new_raw_cell(ASSIGNMENT_CONFIG)]
    for cell in master.cells:
        if is_check(cell):
            continue
        if not is_solution(cell):
            if cell.cell_type == "markdown":  # prose naming the markers is not a marker
                cell.source = cell.source.replace("BEGIN SOLUTION", "BEGIN-SOLUTION line")
                cell.source = cell.source.replace("END SOLUTION", "END-SOLUTION line")
            cell.metadata.pop("kms_course", None)
            cells.append(cell)
            continue
        ex = exercises[exercise_id(cell)]
        values = ", ".join(f"{name!r}: globals().get({name!r})" for name in ex.answers)
        test = (f"from kms_course.lessons.exercises import run_check\n"
                f"verdict = run_check({ex.id!r}, kms, {{{values}}})\n"
                f"assert verdict.passed, verdict.message")
        source = cell.source.replace("### BEGIN SOLUTION", "# BEGIN SOLUTION")
        source = source.replace("### END SOLUTION", "# END SOLUTION")
        cells += [
            new_raw_cell(f"# BEGIN QUESTION\nname: q{ex.id.replace('-', '_')}\n"
                         f"points: {ex.points}"),
            new_markdown_cell(f"Exercise {ex.id}."),
            new_code_cell(source),
            new_raw_cell("# BEGIN TESTS"),
            new_code_cell(test),
            new_raw_cell("# END TESTS"),
            new_raw_cell("# END QUESTION"),
        ]
    master.cells = cells
    return master


class OtterBench:
    """``prepare()`` converts and assigns the lesson (untimed); ``run(subs)`` grades them."""

    def __init__(self, lesson: str, venv: Path, folder: Path, jobs: int = 3):
        self.lesson, self.venv, self.folder, self.jobs = lesson, venv, folder, jobs
        self.otter = venv / "bin" / "otter"
        self.zip: str | None = None

    def env(self) -> dict[str, str]:
        site = glob.glob(str(self.venv / "lib" / "python3*" / "site-packages"))
        if not site:
            raise RuntimeError(f"no site-packages in {self.venv}")
        kernels = self.folder / "jupyter" / "kernels" / "python3"
        kernels.mkdir(parents=True, exist_ok=True)
        launch = (f"import sys; sys.path.append({site[0]!r}); "
                  "from ipykernel import kernelapp; kernelapp.launch_new_instance()")
        (kernels / "kernel.json").write_text(json.dumps({
            "argv": [PY, "-c", launch, "-f", "{connection_file}"],
            "display_name": "kms-course + otter", "language": "python"}))
        return {**os.environ, "JUPYTER_PATH": str(self.folder / "jupyter"),
                "PATH": f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}

    def prepare(self) -> OtterBench:
        import nbformat

        if not self.otter.exists():
            raise RuntimeError(f"no otter in {self.venv}: python3 -m venv {self.venv} && "
                               f"{self.venv}/bin/pip install otter-grader")
        self.folder.mkdir(parents=True, exist_ok=True)
        source = self.folder / f"{self.lesson}.ipynb"
        nbformat.write(otter_master(self.lesson), source)
        proc = subprocess.run([str(self.otter), "assign", "--no-run-tests", str(source), "dist"],
                              cwd=self.folder, env=self.env(), capture_output=True, text=True)
        zips = sorted((self.folder / "dist" / "autograder").glob("*.zip"))
        if proc.returncode or not zips:
            raise RuntimeError(f"otter assign failed: {proc.stdout[-1000:]}{proc.stderr[-1500:]}")
        self.zip = str(zips[-1])
        return self

    def run(self, subs: list[Path]) -> Measured:
        out = self.folder / "results"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        run = run_measured([str(self.venv / "bin" / "python"), "-c", DRIVER, str(self.otter),
                            self.zip, str(out), str(self.jobs), *map(str, subs)],
                           env=self.env(), cwd=self.folder)
        results = sorted(out.glob("*/results.json"))
        if run.returncode or len(results) != len(subs):
            raise RuntimeError(f"otter run graded {len(results)}/{len(subs)}: "
                               f"{run.stderr[-1500:]}")
        return run


def scores(folder: Path) -> list[float]:
    """Total score of each ``results.json`` under ``folder`` (to compare with kms-course's)."""
    totals = []
    for path in sorted(folder.glob("*/results.json")):
        data = json.loads(path.read_text())
        totals.append(sum(t.get("score") or 0 for t in data.get("tests", [])))
    return totals
