"""Submissions graded per minute: kms-course grade (serial, parallel, jailed or not) vs nbval vs
nbgrader, and what the grading jail costs per kernel.

Builds a synthetic class of one lesson (full solutions, blanks, partial answers), then times:

1. ``kms-course grade --jobs 1`` (serial) on the first ``--serial`` submissions;
2. ``kms-course grade`` (parallel: default cores + 1 workers) on the whole class, each kernel in
   its own jail (the default), ``kms-course grade --no-jail`` and ``kms-course grade --executor
   dask`` (an embedded Dask LocalCluster) on the same class, the three runs alternated
   ``--repeat`` times, and the time Dask adds per task;
3. ``pytest --nbval-lax -n 2 --dist loadscope`` over the first ``--others`` notebooks as
   submitted (check cells run in the student's kernel; nothing is protected);
4. nbgrader 0.9.6 ``autograde`` on the same ``--others`` notebooks, from a separate virtual
   environment (``--nbgrader-venv``, never a project dependency), with a kernel spec that points
   at this project's Python so the notebooks can import ``kms_course``.

5. the start cost of one kernel: a one-cell notebook run through the grader's ``execute`` with a
   jail and without, alternated, and bubblewrap's own start (``Jail.start``) alone.

Each measurement is repeated ``--repeat`` times; the median is printed, with ratios. Run:

    .venv/bin/python benchmarks/bench_grading.py --students 200
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

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def build_class(lesson: str, students: int, folder: Path) -> list[Path]:
    """``students`` submissions of ``lesson``: 40 % full, 30 % blank, 30 % first exercise only."""
    import nbformat

    from kms_course.transforms import RELEASE_STEPS, apply
    from kms_course.transforms.cells import is_solution

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


def timed(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> float:
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if proc.returncode not in (0, 1):  # pytest returns 1 when student notebooks fail: expected
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
        raise RuntimeError(f"{cmd[:3]} failed with exit code {proc.returncode}")
    return elapsed


def bench_kms(subs: list[Path], jobs: int, lesson: str, jailed: bool = True,
              executor: str = "pool") -> float:
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

    from kms_course.grading.cluster import local_cluster

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

    from kms_course.grading import jail
    from kms_course.grading.execute import execute
    from kms_course.grading.sandbox import GradingServer
    from kms_course.grading.zygote import JailSpec

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    server = GradingServer().start()
    server.kms()
    trees = tuple(map(str, jail.python_trees()))
    secrets = tuple(map(str, jail.secret_paths()))
    times: dict[str, list[float]] = {"jailed": [], "unjailed": [], "bwrap": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(count + 1):  # the first round warms the zygote up and is not counted
            with server.channel() as socket_path:
                spec = JailSpec(socket_path, jail.JailLimits(), trees, secrets)
                started = time.perf_counter()
                execute(nb, {}, lambda ex, v: None, cwd=jail.HOME, jail=spec,
                        env=server.kernel_env(f"{jail.HOME}/.kms-course", jailed=True))
                times["jailed"].append(time.perf_counter() - started)
                started = time.perf_counter()
                box = jail.Jail(trees=map(Path, trees), secrets=map(Path, secrets),
                                socket_path=socket_path, connection_dir=tmp,
                                limits=jail.JailLimits()).start()
                times["bwrap"].append(time.perf_counter() - started)
                box.close()
            started = time.perf_counter()
            execute(nb, {}, lambda ex, v: None, cwd=tmp, env=server.kernel_env(tmp))
            times["unjailed"].append(time.perf_counter() - started)
    server.close()
    return {name: statistics.median(values[1:]) * 1000 for name, values in times.items()}


def bench_nbval(subs: list[Path]) -> float:
    return timed([PY, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval-lax", "-n", "2",
                  "--dist", "loadscope", "-o", "addopts=", "--rootdir", str(subs[0].parents[1]),
                  *map(str, subs)], cwd=subs[0].parents[1])


def bench_nbgrader(subs: list[Path], lesson: str, venv: Path) -> float:
    """nbgrader autograde on ``subs`` in a fresh course folder; returns seconds of autograde."""
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
        started = time.monotonic()
        proc = run("autograde", "ps1", "--create", "--force")
        elapsed = time.monotonic() - started
        graded = len(list((course / "autograded").glob("*/ps1/*.ipynb")))
        if graded != len(subs):
            raise RuntimeError(f"nbgrader graded {graded}/{len(subs)}:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
        return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson", default="03_creating_and_describing_keys")
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--serial", type=int, default=20, help="submissions for the serial run")
    parser.add_argument("--others", type=int, default=40, help="submissions for nbval and nbgrader")
    parser.add_argument("--jobs", type=int, default=None, help="default: kms-course's (cores + 1)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--nbgrader-venv", default="/tmp/nbgrader-venv")
    parser.add_argument("--kernels", type=int, default=20, help="kernels for the start-cost figure")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["serial", "parallel", "unjailed", "dask", "nbval", "nbgrader",
                                 "kernels", "overhead"])
    args = parser.parse_args(argv)
    from kms_course.grading.limits import default_jobs

    jobs = args.jobs or default_jobs()
    load = os.getloadavg()
    print(f"{os.cpu_count()} cores, {jobs} workers; load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        subs = build_class(args.lesson, args.students, Path(tmp) / "class")
        if not {"parallel", "unjailed", "dask"} & set(args.skip):  # alternated: load hits all alike
            side = {"parallel": [], "unjailed": [], "dask": []}
            notes = {"parallel": "  (process pool, each kernel jailed)", "unjailed": "  (--no-jail)",
                     "dask": "  (--executor dask: LocalCluster, jailed)"}
            for _ in range(args.repeat):
                side["parallel"].append(bench_kms(subs, jobs, args.lesson, jailed=True))
                side["unjailed"].append(bench_kms(subs, jobs, args.lesson, jailed=False))
                side["dask"].append(bench_kms(subs, jobs, args.lesson, executor="dask"))
            for name, values in side.items():
                seconds = statistics.median(values)
                rates[name] = len(subs) / seconds * 60
                print(f"{name:>9}: {len(subs):4d} submissions in {seconds:7.1f} s (median of "
                      f"{args.repeat}) = {rates[name]:6.1f} submissions/min" + notes[name])
            args.skip += ["parallel", "unjailed", "dask"]
        plans = {
            "serial": (subs[: args.serial], lambda s: bench_kms(s, 1, args.lesson)),
            "parallel": (subs, lambda s: bench_kms(s, jobs, args.lesson)),
            "unjailed": (subs, lambda s: bench_kms(s, jobs, args.lesson, jailed=False)),
            "nbval": (subs[: args.others], bench_nbval),
            "nbgrader": (subs[: args.others], lambda s: bench_nbgrader(s, args.lesson, Path(args.nbgrader_venv))),
        }
        for name, (chosen, fn) in plans.items():
            if name in args.skip:
                continue
            try:
                seconds = statistics.median(fn(chosen) for _ in range(args.repeat))
            except Exception as error:  # report and go on: one tool failing is itself a result
                print(f"{name:>9}: FAILED: {error}")
                continue
            rates[name] = len(chosen) / seconds * 60
            print(f"{name:>9}: {len(chosen):4d} submissions in {seconds:7.1f} s (median of "
                  f"{args.repeat}) = {rates[name]:6.1f} submissions/min")
    if "parallel" in rates:
        for other in ("unjailed", "dask", "serial", "nbval", "nbgrader"):
            if other in rates:
                print(f"parallel / {other}: {rates['parallel'] / rates[other]:.2f}x")
        print(f"200 submissions would take {200 / rates['parallel']:.1f} min at the parallel rate")
    if "overhead" not in args.skip:
        print(f"Dask adds {dask_task_overhead():.1f} ms per task (median, one LocalCluster worker)")
    if "kernels" not in args.skip:
        costs = kernel_start_costs(args.kernels)
        print(f"one kernel, median of {args.kernels}: jailed {costs['jailed']:.0f} ms, unjailed "
              f"{costs['unjailed']:.0f} ms (the jail adds {costs['jailed'] - costs['unjailed']:.0f} "
              f"ms); bubblewrap alone builds a jail in {costs['bwrap']:.1f} ms")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
