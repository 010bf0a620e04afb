"""Time to a running lab on a fresh clone, install included: pip route (before) vs uv.lock (after).

For each route, each cache mode and each run, the repository is cloned afresh into a temporary
folder and checked out at the route's commit, then two things are timed:

1. the install step of the first ``make lab``: ``make install`` at ``--before`` (its ``lab``
   target installed ``.[test]`` with pip) and ``make lab-install`` at ``--after`` (``uv sync``
   of the student set from ``uv.lock``); ``--full`` also times ``make install`` at ``--after``
   (every extra, what ``make test`` installs), the like-for-like set of the pip route;
2. ``make lab ARGS="--no-browser --port P"`` until JupyterLab answers ``GET /api`` (the install
   stamp is fresh, so this is the lab's own start), unless ``--no-lab``. The student's workspace
   (``KMS_COURSE_WORKSPACE``) is a new folder of the run, so the lab fills it as on a student's
   first start (and the benchmark never writes into ``~/kms-course-work``).

``--steps`` splits the install of the ``--after`` routes into its make targets, each timed on its
own: the venv (``.venv/bin/python``), the pinned uv (``.venv/.uv/bin/uv``) and the sync (the
rest); their sum is the install time reported.

Cache modes (``--caches``): ``cold`` gives pip ``PIP_NO_CACHE_DIR=1`` and uv an empty
``UV_CACHE_DIR`` (every wheel downloaded, as on a new machine); ``warm`` gives each tool a cache
folder of its own that one untimed run filled first (a second clone on the same machine). Both
tools use the network in the same way (the package registry), and pip's own settings
(``pip config list``) apply to both routes' pip steps. Medians are printed side by side with
before/after ratios; the routes take turns run by run. Run from a clone:

    python3 benchmarks/bench_install.py --before a024c82 --after HEAD --runs 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (int)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_clone(repo: Path, rev: str, folder: Path) -> Path:
    """A new clone of ``repo`` at ``rev`` in ``folder`` (Path of the work tree)."""
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(repo), str(folder)], check=True)
    subprocess.run(["git", "-C", str(folder), "checkout", "-q", rev], check=True)
    return folder


def timed_make(clone: Path, target: str, env: dict[str, str], log: Path) -> float:
    """Seconds (float) that ``make target`` takes in ``clone``; raises if it fails."""
    start = time.perf_counter()
    with log.open("ab") as out:
        result = subprocess.run(["make", "-C", str(clone), target], env=env, stdout=out, stderr=out)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"make {target} failed in {clone}; see {log}")
    return elapsed


def time_lab_start(clone: Path, env: dict[str, str], log: Path, timeout: float = 180) -> float:
    """Seconds (float) from ``make lab`` to JupyterLab answering ``GET /api``; stops the lab."""
    port = free_port()
    start = time.perf_counter()
    with log.open("ab") as out:
        lab = subprocess.Popen(
            ["make", "-C", str(clone), "lab", f"ARGS=--no-browser --port {port}"],
            env=env, stdout=out, stderr=out, start_new_session=True,
        )
    try:
        while time.perf_counter() - start < timeout:
            if lab.poll() is not None:
                raise RuntimeError(f"make lab exited with {lab.returncode}; see {log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2) as reply:
                    if reply.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s; see {log}")
    finally:
        os.killpg(lab.pid, 15)
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, 9)
            lab.wait()


def cache_env(mode: str, tool_dir: Path, work: Path) -> dict[str, str]:
    """The environment (dict of str) of one run: ``cold`` (no cache) or ``warm`` (shared cache)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VIRTUAL_ENV", "UV_", "PIP_CACHE", "KMS_COURSE_"))}
    env.pop("PIP_NO_CACHE_DIR", None)
    if mode == "cold":
        env["PIP_NO_CACHE_DIR"] = "1"
        env["UV_CACHE_DIR"] = str(work / "uv-cache-empty")
    else:
        env["PIP_CACHE_DIR"] = str(tool_dir / "pip-cache")
        env["UV_CACHE_DIR"] = str(tool_dir / "uv-cache")
    return env


#: The make targets ``--steps`` times one by one before the install target (the sync).
STEPS = (("venv", ".venv/bin/python"), ("uv", ".venv/.uv/bin/uv"))


def one_run(repo: Path, rev: str, target: str, mode: str, tool_dir: Path, lab: bool,
            log: Path, steps: bool = False) -> tuple[float, float | None, dict[str, float]]:
    """(install seconds, lab start seconds or None, seconds of each step) of one fresh clone."""
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp:
        work = Path(tmp)
        clone = fresh_clone(repo, rev, work / "kms-course")
        env = cache_env(mode, tool_dir, work)
        env["KMS_COURSE_WORKSPACE"] = str(work / "kms-course-work")  # empty: the first start
        parts = {name: timed_make(clone, step, env, log) for name, step in STEPS} if steps else {}
        parts["sync" if steps else target] = timed_make(clone, target, env, log)
        start = time_lab_start(clone, env, log) if lab else None
        return sum(parts.values()), start, parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=ROOT, help="repository to clone (default: this one)")
    parser.add_argument("--before", default="a024c82", help="commit of the pip route (default: a024c82)")
    parser.add_argument("--after", default="HEAD", help="commit of the uv.lock route (default: HEAD)")
    parser.add_argument("--runs", type=int, default=2, help="timed runs per route and cache mode")
    parser.add_argument("--caches", default="cold,warm", help="cache modes: cold, warm or both")
    parser.add_argument("--full", action="store_true", help="also time `make install` (every extra) at --after")
    parser.add_argument("--no-lab", action="store_true", help="time the install only, not the lab's start")
    parser.add_argument("--steps", action="store_true",
                        help="time the --after installs step by step: venv, uv, sync")
    args = parser.parse_args()

    routes = [("before: pip, make install (.[test])", args.before, "install"),
              ("after: uv.lock, make lab-install (student)", args.after, "lab-install")]
    if args.full:
        routes.append(("after: uv.lock, make install (all extras)", args.after, "install"))
    modes = [m.strip() for m in args.caches.split(",") if m.strip()]
    tools = Path(tempfile.mkdtemp(prefix="bench-install-caches-"))
    log = tools / "make.log"
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"make output in {log}", flush=True)
    results: dict[tuple[str, str], list[tuple[float, float | None, dict[str, float]]]] = {}
    try:
        for mode in modes:
            if mode == "warm":  # fill each route's caches once, untimed
                for name, rev, target in routes:
                    one_run(args.repo, rev, target, mode, tools, False, log)
            # the routes take turns, so that a slow spell of the network or the machine falls on
            # each of them alike
            for i in range(args.runs):
                for name, rev, target in routes:
                    runs = results.setdefault((mode, name), [])
                    steps = args.steps and rev == args.after
                    runs.append(one_run(args.repo, rev, target, mode, tools, not args.no_lab, log,
                                        steps))
                    lab = f", lab start {runs[-1][1]:.1f} s" if runs[-1][1] is not None else ""
                    parts = (" (" + ", ".join(f"{k} {v:.1f} s" for k, v in runs[-1][2].items())
                             + ")" if steps else "")
                    print(f"  {mode:4} {name}: run {i + 1}: install {runs[-1][0]:.1f} s{parts}{lab}",
                          flush=True)
    finally:
        shutil.rmtree(tools / "uv-cache", ignore_errors=True)
        shutil.rmtree(tools / "pip-cache", ignore_errors=True)

    print(f"\nmedians of {args.runs} runs, each on a fresh clone (seconds)")
    print(f"{'cache':5} {'route':46} {'install':>8} {'lab start':>10} {'to a running lab':>17}")
    for (mode, name), runs in results.items():
        install = statistics.median(r[0] for r in runs)
        starts = [r[1] for r in runs if r[1] is not None]
        start = statistics.median(starts) if starts else None
        total = install + (start or 0.0)
        start_text = f"{start:10.1f}" if start is not None else f"{'-':>10}"
        print(f"{mode:5} {name:46} {install:8.1f} {start_text} {total:17.1f}")
    for mode in modes:
        base = results.get((mode, routes[0][0]))
        for name, _, _ in routes[1:]:
            other = results.get((mode, name))
            if not base or not other:
                continue
            b_install, o_install = (statistics.median(r[0] for r in x) for x in (base, other))
            b_total, o_total = (statistics.median(r[0] + (r[1] or 0.0) for r in x) for x in (base, other))
            print(f"{mode}: before / {name.split(',')[1].strip()}: install x{b_install / o_install:.1f}, "
                  f"to a running lab x{b_total / o_total:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
