"""CPU and memory of a whole process tree, for the benchmarks (not part of kms_course).

Process accounting (``getrusage(RUSAGE_CHILDREN)``, ``/usr/bin/time``) misses the CPU of
processes whose parent never waits for them, such as the kernels the grader's zygote forks, so
this measures CPU by control group instead:

1. cgroup v1 ``cpuacct`` (``/sys/fs/cgroup/cpuacct/<name>/cpuacct.usage``, nanoseconds): a
   fresh group per run; the child writes its own pid to ``cgroup.procs`` before it executes
   anything (``preexec_fn``), so every process it forks or clones (kernels, bubblewrap, pool and
   Dask workers) is counted;
2. cgroup v2 (``cpu.stat`` ``usage_usec``), same scheme, at ``/sys/fs/cgroup`` or
   ``/sys/fs/cgroup/unified``;
3. ``/proc/stat`` busy time of the whole machine (everything else running counts too).

Kernel docs: https://docs.kernel.org/admin-guide/cgroup-v1/cpuacct.html and
https://docs.kernel.org/admin-guide/cgroup-v2.html (``cpu.stat``). Memory is the peak, over
samples every ``interval`` seconds, of the summed ``Pss:`` of ``/proc/<pid>/smaps_rollup`` over
the group's processes (or the process tree when no group could be made), in MiB.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024
_COUNTER = itertools.count()
V1 = Path("/sys/fs/cgroup/cpuacct")
V2_ROOTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))


def _busy_seconds() -> float:
    """Busy CPU seconds of the whole machine since boot (``/proc/stat``, all cores)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuGroup:
    """A fresh control group to put one process tree in; ``source`` names what is measured."""

    def __init__(self, label: str = "kms-bench"):
        name = f"{label}-{os.getpid()}-{next(_COUNTER)}"
        self.path: Path | None = None
        self.kind = "proc-stat"
        self.source = "/proc/stat busy time (machine-wide: everything running counts)"
        if (V1 / "cpuacct.usage").exists():
            try:
                (V1 / name).mkdir()
                self.path, self.kind = V1 / name, "v1"
                self.source = "cgroup v1 cpuacct.usage (the grader's process tree)"
            except OSError:
                pass
        if self.path is None:
            for root in V2_ROOTS:
                if (root / "cgroup.controllers").exists():
                    try:
                        (root / name).mkdir()
                    except OSError:
                        continue
                    self.path, self.kind = root / name, "v2"
                    self.source = "cgroup v2 cpu.stat usage_usec (the grader's process tree)"
                    break
        self.start = self.usage() if self.path is None else 0.0

    def usage(self) -> float:
        """CPU seconds used so far by the group (or busy seconds of the machine)."""
        if self.kind == "v1":
            return int((self.path / "cpuacct.usage").read_text()) / 1e9
        if self.kind == "v2":
            for line in (self.path / "cpu.stat").read_text().splitlines():
                if line.startswith("usage_usec"):
                    return int(line.split()[1]) / 1e6
        return _busy_seconds()

    def seconds(self) -> float:
        """CPU seconds since the group was made."""
        return self.usage() - self.start

    def join(self, pid: int = 0) -> None:
        """Move ``pid`` (0: the calling process) into the group; safe in a ``preexec_fn``."""
        if self.path is not None:
            with open(self.path / "cgroup.procs", "w") as f:
                f.write(str(pid or os.getpid()))

    def pids(self) -> list[int]:
        if self.path is None:
            return []
        return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]

    def close(self) -> None:
        """Move any leftover process back to the root group and remove the group (once)."""
        if self.path is None or not self.path.exists():
            return
        for _ in range(40):  # processes may still be forking or exiting: move them again
            for pid in self.pids():
                try:
                    (self.path.parent / "cgroup.procs").write_text(str(pid))
                except OSError:
                    pass
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.05)


def pss_mib(pids: list[int]) -> float:
    """Summed proportional set size of ``pids`` in MiB (processes gone meanwhile count 0)."""
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
                break
    return total / MiB


def tree(root: int) -> list[int]:
    """``root`` and its descendants, by each process's parent pid."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


class PssSampler(threading.Thread):
    """Samples the PSS of a group's processes (or of ``root``'s tree) until stopped."""

    def __init__(self, group: CpuGroup | None = None, root: int | None = None,
                 interval: float = 0.2):
        super().__init__(daemon=True)
        self.group, self.root, self.interval = group, root, interval
        self.peak = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            pids = self.group.pids() if self.group and self.group.path else []
            if not pids and self.root:
                pids = tree(self.root)
            self.peak = max(self.peak, pss_mib(pids))
            self.done.wait(self.interval)

    def stop(self) -> float:
        self.done.set()
        self.join()
        return self.peak


@dataclass
class Measured:
    """One run: wall seconds, CPU seconds (and their source), peak PSS in MiB, exit code."""

    wall: float
    cpu: float
    source: str
    pss_mib: float
    returncode: int
    stdout: str
    stderr: str


def run_measured(cmd: list[str], env: dict | None = None, cwd: Path | str | None = None,
                 label: str = "kms-bench") -> Measured:
    """Run ``cmd`` in a fresh control group; its wall time, the tree's CPU and its peak PSS."""
    group = CpuGroup(label)
    try:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                preexec_fn=group.join if group.path else None)
        sampler = PssSampler(group, proc.pid)
        sampler.start()
        out, err = proc.communicate()
        wall = time.monotonic() - started
        peak = sampler.stop()
        for _ in range(40):  # kernels still shutting down: let them finish, they count
            if not group.pids():
                break
            time.sleep(0.05)
        cpu = group.seconds()
    finally:
        group.close()
    return Measured(wall, cpu, group.source, peak, proc.returncode, out, err)
