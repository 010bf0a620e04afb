"""Submissions graded per minute, CPU and memory: kms-course grade (serial, parallel, jailed or
not, Dask) vs nbval vs nbgrader vs otter-grader on the same class, and where a submission's time
goes.

Builds a synthetic class of one lesson (40 % full solutions, 30 % blanks, 30 % the first exercise
only) of ``--class-size`` submissions, and grades that same class with every grader compared,
the runs alternated (one of each per round, ``--repeat`` rounds) so the machine's load hits them
alike:

- ``kms-course grade`` with its process pool (default one worker per core, each kernel jailed),
  ``--no-jail``, ``--executor dask`` (an embedded Dask LocalCluster, jailed) and ``--jobs 1``
  (serial);
- ``pytest --nbval-lax -n 2 --dist loadscope`` over the notebooks as submitted (check cells run in
  the student's kernel; nothing is protected);
- nbgrader 0.9.6 ``autograde`` from its own virtual environment (``--nbgrader-venv``), with a
  kernel spec that points at this project's Python so the notebooks can import ``kms_course``;
- otter-grader ``otter run`` from its own virtual environment (``--otter-venv``) on the lesson
  converted to otter's format (:mod:`_otter`).

Then ``kms-course grade`` alone on the ``--students`` class (the 200-submission target row), the
breakdown of one submission (:mod:`_breakdown`), the time Dask adds per task and the start cost
of one kernel. Each run prints wall seconds, submissions/min, CPU seconds per submission of the
grader's whole process tree by control group (:mod:`_measure`; kernels forked by the zygote never
report to rusage, so rusage would under-state it) and the peak PSS of that tree. Medians over the
rounds are printed, with ratios. Run:

    .venv/bin/python benchmarks/bench_grading.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import Measured, run_measured  # noqa: E402 (benchmarks/ on sys.path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
PY = sys.executable


def build_class(lesson: str, students: int, folder: Path) -> list[Path]:
    """``students`` submissions of ``lesson``: 40 % full, 30 % blank, 30 % first exercise only."""
    import nbformat

    from kms_course.instructor.transforms import RELEASE_STEPS, apply
    from kms_course.lessons.cells import is_solution

    master = nbformat.read(ROOT / "notebooks" / f"{lesson}.ipynb", 4)
    blank = apply(master, RELEASE_STEPS)
    partial = apply(master, RELEASE_STEPS)
    first = next(i for i, c in enumerate(master.cells) if is_solution(c))
    partial.cells[first].source = master.cells[first].source
    full = apply(master, RELEASE_STEPS)
    for i, cell in enumerate(master.cells):
        if is_solution(cell):
            full.cells[i].source = cell.source
    paths = []
    for n in range(students):
        kind = (full, full, full, full, blank, blank, blank, partial, partial, partial)[n % 10]
        path = folder / f"student{n:03d}" / f"{lesson}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(kind, path)
        paths.append(path)
    return paths


def timed(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> Measured:
    """Run ``cmd`` measured (wall, CPU of its process tree, peak PSS); exit 0 or 1 expected."""
    run = run_measured(cmd, env=env, cwd=cwd)
    if run.returncode not in (0, 1):  # pytest returns 1 when student notebooks fail: expected
        print(run.stdout[-2000:], run.stderr[-2000:], file=sys.stderr)
        raise RuntimeError(f"{cmd[:3]} failed with exit code {run.returncode}")
    return run


def bench_kms(subs: list[Path], jobs: int, lesson: str, jailed: bool = True,
              executor: str = "pool") -> Measured:
    with tempfile.TemporaryDirectory() as tmp:
        chosen = Path(tmp) / "class"
        chosen.mkdir()
        for path in subs:  # copies: the grader refuses symbolic links in a class folder
            shutil.copytree(path.parent, chosen / path.parent.name)
        return timed([PY, "-m", "kms_course.cli", "grade", str(chosen), "--out", f"{tmp}/out",
                      "--jobs", str(jobs), "--lesson", lesson, "--no-progress",
                      "--executor", executor, *([] if jailed else ["--no-jail"])], cwd=ROOT)


def dask_task_overhead(count: int = 200) -> float:
    """Median milliseconds Dask adds per task on a LocalCluster like the grader's (a task that
    does nothing, submitted and gathered one by one)."""
    from distributed import Client

    from kms_course.instructor.grading.cluster import local_cluster

    with local_cluster(1) as cluster, Client(cluster) as client:
        client.submit(len, "warm", pure=False).result()
        times = []
        for n in range(count):
            started = time.perf_counter()
            client.submit(len, str(n), pure=False).result()
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def kernel_start_costs(count: int) -> dict[str, float]:
    """Median milliseconds to run a one-cell notebook in a fresh grading kernel, jailed and not,
    and for bubblewrap to build a jail alone (in this process, as a grading worker does)."""
    import nbformat

    from kms_course.instructor.grading import jail
    from kms_course.instructor.grading.execute import execute
    from kms_course.instructor.grading.sandbox import GradingServer
    from kms_course.instructor.grading.zygote import JailSpec

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    server = GradingServer().start()
    server.kms()
    trees = tuple(map(str, jail.python_trees()))
    secrets = tuple(map(str, jail.secret_paths()))
    times: dict[str, list[float]] = {"jailed": [], "unjailed": [], "bwrap": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(count + 1):  # the first round warms the zygote up and is not counted
            with server.channel() as serve:
                spec = JailSpec(serve, jail.JailLimits(), trees, secrets)
                started = time.perf_counter()
                execute(nb, {}, lambda ex, v: None, cwd=jail.HOME, jail=spec,
                        env=server.kernel_env(f"{jail.HOME}/.kms-course", jailed=True))
                times["jailed"].append(time.perf_counter() - started)
                started = time.perf_counter()
                box = jail.Jail(trees=map(Path, trees), secrets=map(Path, secrets),
                                connection_dir=tmp,
                                limits=jail.JailLimits()).start()
                times["bwrap"].append(time.perf_counter() - started)
                box.close()
            started = time.perf_counter()
            execute(nb, {}, lambda ex, v: None, cwd=tmp, env=server.kernel_env(tmp))
            times["unjailed"].append(time.perf_counter() - started)
    server.close()
    return {name: statistics.median(values[1:]) * 1000 for name, values in times.items()}


def bench_nbval(subs: list[Path]) -> Measured:
    return timed([PY, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval-lax", "-n", "2",
                  "--dist", "loadscope", "-o", "addopts=", "--rootdir", str(subs[0].parents[1]),
                  *map(str, subs)], cwd=subs[0].parents[1])


def bench_nbgrader(subs: list[Path], lesson: str, venv: Path) -> Measured:
    """nbgrader autograde on ``subs`` in a fresh course folder (only autograde is measured)."""
    if not (venv / "bin" / "nbgrader").exists():
        raise RuntimeError(f"no nbgrader in {venv}: python3 -m venv {venv} && "
                           f"{venv}/bin/pip install nbgrader==0.9.6")
    nbgrader = venv / "bin" / "nbgrader"
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        kernels = Path(tmp) / "jupyter" / "kernels" / "python3"
        kernels.mkdir(parents=True)
        (kernels / "kernel.json").write_text(json.dumps({
            "argv": [PY, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "kms-course", "language": "python"}))
        env = {**os.environ, "JUPYTER_PATH": str(Path(tmp) / "jupyter"),
               "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
        (course / "source" / "ps1").mkdir(parents=True)
        import nbformat

        master = nbformat.read(ROOT / "notebooks" / f"{lesson}.ipynb", 4)
        for cell in master.cells:  # nbgrader reads marker names in prose as markers: reword
            if cell.cell_type == "markdown":
                cell.source = cell.source.replace("### BEGIN SOLUTION", "BEGIN-SOLUTION line")
                cell.source = cell.source.replace("### END SOLUTION", "END-SOLUTION line")
        nbformat.write(master, course / "source" / "ps1" / f"{lesson}.ipynb")
        (course / "nbgrader_config.py").write_text(
            "c = get_config()\nc.CourseDirectory.course_id = 'kms'\n"
            "c.ExecutePreprocessor.timeout = 30\n")
        run = lambda *a: subprocess.run([str(nbgrader), *a], cwd=course, env=env,
                                        capture_output=True, text=True)
        gen = run("generate_assignment", "ps1", "--create", "--force")
        if gen.returncode:
            raise RuntimeError(gen.stdout[-1500:] + gen.stderr[-1500:])
        for path in subs:
            target = course / "submitted" / path.parent.name / "ps1"
            target.mkdir(parents=True)
            shutil.copy(path, target)
            (target / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC")
        proc = run_measured([str(nbgrader), "autograde", "ps1", "--create", "--force"],
                            cwd=course, env=env)
        graded = len(list((course / "autograded").glob("*/ps1/*.ipynb")))
        if graded != len(subs):
            raise RuntimeError(f"nbgrader graded {graded}/{len(subs)}:\n"
                               f"{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
        return proc


def row(name: str, count: int, runs: list[Measured], note: str = "") -> float:
    """Print the medians of ``runs`` (each grading ``count`` submissions); the rate per minute."""
    wall = statistics.median(r.wall for r in runs)
    cpu = statistics.median(r.cpu for r in runs) / count
    pss = statistics.median(r.pss_mib for r in runs)
    rate = count / wall * 60
    print(f"{name:>10}: {count:4d} in {wall:7.1f} s = {rate:6.1f}/min; CPU {cpu:5.2f} "
          f"s/submission; peak PSS {pss:6.0f} MiB (median of {len(runs)}){note}")
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson", default="03_creating_and_describing_keys")
    parser.add_argument("--class-size", type=int, default=40,
                        help="the class every grader compared grades")
    parser.add_argument("--students", type=int, default=200,
                        help="the class of the kms-course throughput row (the 200/min target)")
    parser.add_argument("--jobs", type=int, default=None, help="default: kms-course's (one per core)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of alternated runs")
    parser.add_argument("--nbgrader-venv", default="/tmp/nbgrader-venv")
    parser.add_argument("--otter-venv", default="/tmp/otter-venv")
    parser.add_argument("--breakdown", type=int, default=20,
                        help="submissions graded serially for the breakdown")
    parser.add_argument("--kernels", type=int, default=20, help="kernels for the start-cost figure")
    names = ["parallel", "unjailed", "dask", "serial", "nbval", "nbgrader", "otter"]
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=[*names, "students", "breakdown", "kernels", "overhead"])
    args = parser.parse_args(argv)
    from kms_course.instructor.grading.limits import default_jobs

    jobs = args.jobs or default_jobs()
    load = os.getloadavg()
    print(f"{os.cpu_count()} cores, {jobs} workers; load average before: "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        subs = build_class(args.lesson, args.class_size, Path(tmp) / "class")
        otter = None
        if "otter" not in args.skip:
            from _otter import OtterBench

            try:
                otter = OtterBench(args.lesson, Path(args.otter_venv),
                                   Path(tmp) / "otter").prepare()
            except Exception as error:  # report and go on: one tool failing is itself a result
                print(f"{'otter':>10}: FAILED: {error}")
        plans = {
            "parallel": lambda: bench_kms(subs, jobs, args.lesson, jailed=True),
            "unjailed": lambda: bench_kms(subs, jobs, args.lesson, jailed=False),
            "dask": lambda: bench_kms(subs, jobs, args.lesson, executor="dask"),
            "serial": lambda: bench_kms(subs, 1, args.lesson),
            "nbval": lambda: bench_nbval(subs),
            "nbgrader": lambda: bench_nbgrader(subs, args.lesson, Path(args.nbgrader_venv)),
            "otter": lambda: otter.run(subs),
        }
        notes = {"parallel": "  (process pool, each kernel jailed)", "unjailed": "  (--no-jail)",
                 "dask": "  (--executor dask: LocalCluster, jailed)", "serial": "  (--jobs 1)",
                 "nbval": "  (pytest --nbval-lax -n 2)", "nbgrader": "  (nbgrader autograde)",
                 "otter": "  (otter run)"}
        chosen = [n for n in names if n not in args.skip and (n != "otter" or otter)]
        runs: dict[str, list[Measured]] = {n: [] for n in chosen}
        failed: dict[str, str] = {}
        for _ in range(args.repeat):  # alternated: one run of each per round
            for name in chosen:
                if name in failed:
                    continue
                try:
                    runs[name].append(plans[name]())
                except Exception as error:  # report and go on: one tool failing is a result
                    failed[name] = str(error)
        print(f"the same class of {len(subs)} submissions of {args.lesson}, runs alternated; "
              f"CPU: {next((r[0].source for r in runs.values() if r), '-')}")
        for name in chosen:
            if name in failed:
                print(f"{name:>10}: FAILED: {failed[name]}")
            elif runs[name]:
                rates[name] = row(name, len(subs), runs[name], notes[name])
        if otter and runs.get("otter"):
            from collections import Counter

            from _otter import scores

            given = Counter(scores(otter.folder / "results"))
            print(f"{'':>10}  otter's totals (last run), score x count: "
                  + ", ".join(f"{k:g} x {v}" for k, v in sorted(given.items()))
                  + " (otter's test per exercise asserts kms_course.lessons.exercises.run_check passed, "
                    "in the student's kernel; see benchmarks/_otter.py)")
    if "parallel" in rates:
        for other in ("unjailed", "dask", "serial", "nbval", "nbgrader", "otter"):
            if other in rates:
                print(f"parallel / {other}: {rates['parallel'] / rates[other]:.2f}x")
    if "students" not in args.skip:
        with tempfile.TemporaryDirectory() as tmp:
            big = build_class(args.lesson, args.students, Path(tmp) / "class")
            runs_big = [bench_kms(big, jobs, args.lesson) for _ in range(args.repeat)]
            rate = row("students", len(big), runs_big,
                       "  (kms-course grade, jailed pool: the 200/min target row)")
            print(f"200 submissions would take {200 / rate:.1f} min at that rate")
            small = runs.get("parallel") if "parallel" not in failed else None
            if small and len(big) != len(subs):  # two class sizes: fixed cost and per submission
                extra = len(big) - len(subs)
                cpu = (statistics.median(r.cpu for r in runs_big)
                       - statistics.median(r.cpu for r in small)) / extra
                wall = (statistics.median(r.wall for r in runs_big)
                        - statistics.median(r.wall for r in small)) / extra
                fixed = statistics.median(r.cpu for r in small) - cpu * len(subs)
                print(f"{'':>10}  from the two class sizes: {cpu:.2f} s CPU and {wall:.2f} s wall "
                      f"per extra submission, {fixed:.1f} s CPU fixed per run (start-up)")
    if "breakdown" not in args.skip:
        proc = subprocess.run([PY, str(ROOT / "benchmarks" / "_breakdown.py"), "--lesson",
                               args.lesson, "--count", str(args.breakdown)],
                              cwd=ROOT, capture_output=True, text=True)
        print(proc.stdout.rstrip() if proc.returncode == 0
              else f" breakdown: FAILED: {proc.stderr[-1500:]}")
    if "overhead" not in args.skip:
        print(f"Dask adds {dask_task_overhead():.1f} ms per task (median, one LocalCluster worker)")
    if "kernels" not in args.skip:
        costs = kernel_start_costs(args.kernels)
        added = costs["jailed"] - costs["unjailed"]
        print(f"one kernel, median of {args.kernels}: jailed {costs['jailed']:.0f} ms, unjailed "
              f"{costs['unjailed']:.0f} ms (the jail adds {added:.0f} ms); bubblewrap alone "
              f"builds a jail in {costs['bwrap']:.1f} ms")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
