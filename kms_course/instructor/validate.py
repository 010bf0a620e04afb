"""``kms-course validate``: every master passes all its checks; every released notebook fails
each one with a clear message, and nothing else fails because of it.

Like ``nbgrader validate`` and ``validate --invert`` together
(https://nbgrader.readthedocs.io/en/stable/command_line_tools/nbgrader-validate.html), but run
through the grader itself: each master and its student version are executed with nbclient in a
fresh kernel against the grader's sandbox, with the check cells kept, so both the verdict in the
kernel (what a student sees) and the verdict decided in the grader's process are examined.
Static checks come first: every exercise registered for this lesson with the same points, one
solution and one ``check("id")`` cell each, and a release without leaks.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from kms_course.instructor.grading import limits


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kms-course validate``."""
    parser.add_argument("--source", default=None, help="folder of master notebooks (default: notebooks/)")
    limits.add_execution_options(parser, "notebook")


def check_source(source: Path) -> None:
    """Make sure ``--source`` is a folder holding lesson notebooks, before anything runs.

    Raises:
        CourseError: it does not exist, is not a folder, or holds no ``NN_topic.ipynb``.
    """
    from kms_course.errors import CourseError

    if not source.exists():
        raise CourseError(f"--source {source} does not exist: pass the folder of master notebooks.")
    if not source.is_dir():
        raise CourseError(f"--source {source} is a file, not a folder: pass the folder of master notebooks.")
    if not any(source.glob("[0-9][0-9]_*.ipynb")):
        raise CourseError(f"--source {source} holds no lesson notebook (NN_topic.ipynb): pass the folder of master notebooks.")


def static_problems(master) -> list[str]:
    """Problems visible without running ``master`` (a
    :class:`~kms_course.instructor.grading.masters.Master`)."""
    from kms_course.lessons.exercises import load_all
    from kms_course.lessons.cells import exercise_id, is_check, is_solution, nbgrader, source

    registry = load_all()
    problems = []
    solutions: dict[str, int] = {}
    checks: dict[str, int] = {}
    for index, cell in enumerate(master.nb.cells):
        ex = exercise_id(cell)
        if is_solution(cell):
            solutions[ex] = solutions.get(ex, 0) + 1
        elif is_check(cell):
            checks[ex] = checks.get(ex, 0) + 1
            if source(cell).strip() != f'check("{ex}")':
                problems.append(f"cell {index}: a check cell's source must be exactly check({ex!r})")
            points = nbgrader(cell).get("points")
            if ex in registry and points != registry[ex].points:
                problems.append(
                    f"cell {index}: metadata points {points} != {registry[ex].points} registered for {ex}"
                )
    for ex in sorted(set(solutions) | set(checks), key=str):
        if ex not in registry:
            problems.append(f"exercise {ex} has no registered check in kms_course.lessons.checks")
        elif registry[ex].lesson != master.lesson:
            problems.append(f"exercise {ex} is registered for lesson {registry[ex].lesson}")
        if solutions.get(ex) != 1 or checks.get(ex) != 1:
            problems.append(
                f"exercise {ex}: {solutions.get(ex, 0)} solution and {checks.get(ex, 0)} check cells (need 1 and 1)"
            )
    for ex in registry.values():
        if ex.lesson == master.lesson and ex.id not in checks:
            problems.append(f"exercise {ex.id} is registered for this lesson but has no check cell")
    return problems


def master_problems(result: dict) -> list[str]:
    """Problems of a master notebook's run: every exercise must pass and no cell may fail."""
    problems = [f"status {result['status']}: {'; '.join(result['messages'])}"] if result["status"] != "ok" else []
    for ex, item in result.get("exercises", {}).items():
        if not item["passed"]:
            problems.append(f"{ex} does not pass with the master's solution: {item['message']}")
    problems += [f"check cell of {ex} failed in the kernel: {e}" for ex, e in result.get("check_errors", {}).items()]
    return problems


def released_problems(result: dict) -> list[str]:
    """Problems of a released notebook's run: every exercise fails with a message; only the
    stubs (NotImplementedError) and the check cells (ExerciseNotPassed) may raise."""
    problems = []
    if result["status"] != "ok":
        problems.append(f"status {result['status']}: {'; '.join(result['messages'])}")
    for ex, item in result.get("exercises", {}).items():
        if item["passed"]:
            problems.append(f"{ex} passes with the blank stub")
        elif not (item.get("message") or "").strip():
            problems.append(f"{ex} fails without a message")
        if not (item.get("error") or "").startswith("NotImplementedError"):
            problems.append(f"{ex}: the stub cell raised {item.get('error')!r}, not NotImplementedError")
        check_error = result.get("check_errors", {}).get(ex, "")
        if not check_error.startswith("ExerciseNotPassed") or ex not in check_error:
            problems.append(f"{ex}: the check cell should fail with its verdict, got {check_error!r}")
    return problems


def run(args: argparse.Namespace) -> int:
    """Validate every lesson; print one line per notebook; 1 if anything is wrong.

    Raises:
        CourseError: ``--source`` is not a folder of master notebooks.
    """
    import nbformat

    from kms_course.instructor.grading.masters import cached_masters, default_folder
    from kms_course.instructor.grading.pool import grade_all
    from kms_course.instructor.grading.worker import GradeConfig
    from kms_course.instructor.transforms import RELEASE_STEPS, apply, find_leaks

    source = Path(args.source) if args.source else default_folder()
    check_source(source)
    masters = cached_masters(source)
    problems: dict[str, list[str]] = {name: static_problems(m) for name, m in masters.items()}
    with tempfile.TemporaryDirectory(prefix="kms-validate-") as tmp:
        submissions = []
        for name, master in masters.items():
            try:
                student = apply(master.nb, RELEASE_STEPS)
            except ValueError as error:
                problems[name].append(f"release failed: {error}")
                continue
            problems[name] += [f"release leak: {p}" for p in find_leaks(student, master.nb)]
            for kind, nb in (("master", master.nb), ("released", student)):
                path = Path(tmp) / kind / f"{name}.ipynb"
                path.parent.mkdir(exist_ok=True)
                nbformat.write(nb, path)
                submissions.append({"student": kind, "path": str(path), "key": name})
        config = GradeConfig(
            masters=str(source), cell_timeout=args.cell_timeout,
            submission_timeout=args.timeout, keep_checks=True, jail=False,
        )
        for result in grade_all(submissions, config, args.jobs):
            judge = master_problems if result["student"] == "master" else released_problems
            problems[result["key"]] += [f"{result['student']}: {p}" for p in judge(result)]
    failed = 0
    for name, found in problems.items():
        count = len(masters[name].exercises)
        if found:
            failed += 1
            print(f"FAIL {name}")
            for problem in found:
                print(f"  - {problem}")
        else:
            print(f"ok   {name}: master passes {count}/{count} checks; released fails {count}/{count} with a message; no other cell fails")
    return 1 if failed else 0
