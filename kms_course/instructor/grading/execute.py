"""Execute one notebook in a fresh kernel and decide each exercise's verdict outside it.

The notebook runs with nbclient (https://nbclient.readthedocs.io/en/latest/reference/config-options.html)
with ``allow_errors=True``, so a failing exercise never stops the next one, a per-cell timeout
(the kernel is interrupted and the cell gets a ``CellTimeoutError``) and a per-submission
timeout (the kernel is killed). At each exercise's probe cell (see
:mod:`kms_course.instructor.transforms.probe_answers`) an ``on_cell_executed`` hook parses the printed
answers and calls ``decide(exercise_id, values)`` in *this* process, where the sandbox's data
lives; nothing printed or computed by a check in the kernel counts.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

from kms_course.lessons.exercises import Verdict
from kms_course.instructor.grading.zygote import JailSpec
from kms_course.instructor.grading.limits import (
    CELL_TIMEOUT,
    MAX_CELL_OUTPUT,
    MAX_PROBE_OUTPUT,
    MAX_TOTAL_OUTPUT,
    SUBMISSION_TIMEOUT,
)
from kms_course.lessons.cells import course, exercise_id, is_check, is_solution
from kms_course.instructor.transforms.probe_answers import parse_probe_output, probe_answers

TRUNCATED_NOTE = "\n[output truncated by the grader]\n"


@dataclass
class ExecutionReport:
    """What happened when a notebook ran.

    Attributes:
        verdicts: exercise id -> Verdict decided in the grader's process at its probe.
        solution_errors: exercise id -> ``"ename: evalue"`` raised by its solution cell.
        check_errors: exercise id -> ``"ename: evalue"`` raised by its check cell (validate only).
        other_errors: ``"cell N: ename: evalue"`` for lesson cells that raised.
        issues: status words: ``cell-timeout``, ``submission-timeout``, ``kernel-died``,
            ``output-truncated``, ``kernel-unresponsive``, ``kernel-failed``, ``grader-error``.
        messages: one human-readable line per issue.
        seconds: wall-clock duration.
    """

    verdicts: dict[str, Verdict] = field(default_factory=dict)
    solution_errors: dict[str, str] = field(default_factory=dict)
    check_errors: dict[str, str] = field(default_factory=dict)
    other_errors: list[str] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add_issue(self, issue: str, message: str) -> None:
        if issue not in self.issues:
            self.issues.append(issue)
            self.messages.append(message)


def _content_size(content: Mapping[str, Any]) -> int:
    size = len(content.get("text", "") or "")
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(str(value))
    size += len(str(content.get("evalue", ""))) + sum(len(t) for t in content.get("traceback", []))
    return size


class GradingClient(NotebookClient):
    """An nbclient ``NotebookClient`` that keeps at most a bounded amount of output.

    A cell keeps ``max_cell_output`` characters of output (probe cells ``MAX_PROBE_OUTPUT``), the
    whole notebook ``max_total_output``; the rest is dropped with one note, so a flood of output
    cannot exhaust the grader's memory.
    """

    def __init__(self, nb: NotebookNode, *, max_cell_output: int, max_total_output: int, **kw):
        super().__init__(nb, **kw)
        self.max_cell_output = max_cell_output
        self.max_total_output = max_total_output
        self.cell_output: dict[int, int] = {}
        self.total_output = 0
        self.truncated: set[int] = set()
        #: the kernel manager, kept after nbclient lets go of it (``km`` is None once nbclient has
        #: cleaned up), so the grader can still end its jail and delete its connection folder
        self.manager = None

    def create_kernel_manager(self):  # noqa: D102 (nbclient API)
        self.manager = super().create_kernel_manager()
        return self.manager

    def output(self, outs, msg, display_id, cell_index):  # noqa: D102 (nbclient API)
        size = _content_size(msg.get("content", {}))
        probe = course(self.nb.cells[cell_index]).get("role") == "probe"
        used = self.cell_output.get(cell_index, 0) + size
        limit = MAX_PROBE_OUTPUT if probe else self.max_cell_output
        over_total = not probe and self.total_output + size > self.max_total_output
        if used > limit or over_total:
            if cell_index not in self.truncated:
                self.truncated.add(cell_index)
                outs.append(
                    NotebookNode(output_type="stream", name="stderr", text=TRUNCATED_NOTE)
                )
            return None
        self.cell_output[cell_index] = used
        if not probe:
            self.total_output += size
        return super().output(outs, msg, display_id, cell_index)


def _stdout(cell: NotebookNode) -> str:
    return "".join(
        o.get("text", "")
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )


def execute(
    nb: NotebookNode,
    answers: Mapping[str, tuple[str, ...]],
    decide: Callable[[str, dict], Verdict],
    *,
    env: Mapping[str, str],
    cwd: str,
    cell_timeout: float = CELL_TIMEOUT,
    submission_timeout: float = SUBMISSION_TIMEOUT,
    keep_checks: bool = False,
    max_cell_output: int = MAX_CELL_OUTPUT,
    max_total_output: int = MAX_TOTAL_OUTPUT,
    kernel_name: str = "python3",
    fast_kernels: bool = True,
    jail: JailSpec | None = None,
) -> ExecutionReport:
    """Run ``nb`` in a new kernel and return the verdicts decided at each exercise's probe.

    Args:
        nb: the notebook to grade (master cells + the student's solution sources).
        answers: exercise id -> variable names its check reads (``Exercise.answers``).
        decide: ``decide(exercise_id, values) -> Verdict``, run in this process at the probe
            (normally ``run_check`` with the grader's own KMS client).
        env: the kernel's environment (see ``GradingServer.kernel_env``).
        cwd: the kernel's working folder (a fresh, empty one).
        cell_timeout: seconds a cell may run before the kernel is interrupted.
        submission_timeout: seconds for the whole notebook before the kernel is killed.
        keep_checks: keep the check cells (``validate``) instead of replacing them by probes.
        max_cell_output, max_total_output: characters of output kept per cell / per notebook.
        kernel_name: Jupyter kernel spec name.
        fast_kernels: fork the kernel from this process's zygote (:mod:`.zygote`) instead of
            starting a new Python.
        jail: run the kernel in the jail this describes (:mod:`.jail`); ``cwd`` and ``env``
            are then the kernel's view inside it. Every process of the jail is gone when this
            returns.

    A kernel that fails to start (before any cell ran, so none of the student's code ran) is
    replaced by a second one; only if that fails too does the report say ``kernel-failed``.

    Returns:
        An :class:`ExecutionReport`; exercises never reached have no verdict. Never raises for
        anything the student's code does.
    """
    marker = f"KMS-COURSE-ANSWERS-{secrets.token_hex(8)}:"
    graded = probe_answers(nb, answers, marker, keep_checks=keep_checks)
    report = ExecutionReport()
    started = time.monotonic()

    def on_cell_executed(cell: NotebookNode, cell_index: int, execute_reply: dict | None) -> None:
        content = (execute_reply or {}).get("content", {})
        role = course(cell).get("role")
        ex = exercise_id(cell)
        if role == "probe" and ex:
            try:
                report.verdicts[ex] = decide(ex, parse_probe_output(_stdout(cell), marker))
            except Exception as error:  # a grader bug must not lose the batch
                report.add_issue("grader-error", f"checking {ex} failed: {error!r}")
            return
        if content.get("status") != "error":
            return
        error = f"{content.get('ename', 'Error')}: {str(content.get('evalue', ''))[:500]}"
        if content.get("ename") == "CellTimeoutError":
            report.add_issue("cell-timeout", f"a cell ran longer than {cell_timeout:g} s")
        if is_solution(cell) and ex:
            report.solution_errors.setdefault(ex, error)
        elif is_check(cell) and ex:
            report.check_errors.setdefault(ex, error)
        else:
            report.other_errors.append(f"cell {cell_index}: {error}")

    from kms_course.instructor.grading.zygote import IpcKernelManager, ZygoteKernelManager, jailed

    cells_started: list[int] = []
    if jail is not None:
        manager_class = jailed(jail)
    else:
        manager_class = ZygoteKernelManager if fast_kernels else IpcKernelManager

    def new_client() -> GradingClient:
        return GradingClient(
            graded,
            kernel_manager_class=manager_class,
            max_cell_output=max_cell_output,
            max_total_output=max_total_output,
            timeout=max(1, int(round(cell_timeout))),
            allow_errors=True,
            interrupt_on_timeout=True,
            error_on_timeout={
                "ename": "CellTimeoutError",
                "evalue": f"the cell ran longer than {cell_timeout:g} s and was interrupted",
                "traceback": [],
            },
            kernel_name=kernel_name,
            shutdown_kernel="immediate",
            startup_timeout=60,
            iopub_timeout=4,
            raise_on_iopub_timeout=True,
            record_timing=False,
            on_cell_start=lambda cell, cell_index: cells_started.append(cell_index),
            on_cell_executed=on_cell_executed,
        )

    async def run(client: GradingClient) -> None:
        try:
            await asyncio.wait_for(client.async_execute(cwd=cwd, env=dict(env)), submission_timeout)
        finally:
            manager = client.manager
            if manager is not None and await _maybe_await(manager.is_alive()):
                await _maybe_await(manager.shutdown_kernel(now=True))
            if isinstance(manager, ZygoteKernelManager):
                manager.close_jail()  # also when the kernel died: its leftovers go with it
            if isinstance(manager, IpcKernelManager):
                manager.remove_connection_dir()  # what the kernel wrote there, too

    for attempt in (1, 2):
        client = new_client()
        try:
            asyncio.run(run(client))
        except CellTimeoutError:
            report.add_issue("cell-timeout", f"a cell ran longer than {cell_timeout:g} s")
            report.add_issue(
                "kernel-unresponsive",
                "the kernel did not stop when interrupted after a timeout (does the code catch "
                "KeyboardInterrupt?); it was killed",
            )
        except (asyncio.TimeoutError, TimeoutError, DeadKernelError) as error:
            # nbclient turns the cancellation of a running cell into DeadKernelError
            in_time = time.monotonic() - started < submission_timeout
            if isinstance(error, DeadKernelError) and in_time:
                report.add_issue(
                    "kernel-died", "the kernel died (os._exit, a crash or out of memory)"
                )
            else:
                report.add_issue(
                    "submission-timeout", f"the notebook ran longer than {submission_timeout:g} s"
                )
        except Exception as error:  # kernel failed to start, broken channels, ...
            if attempt == 1 and not cells_started:
                continue  # no kernel, so none of the student's code ran: a second kernel is fair
            report.add_issue("kernel-failed", f"{type(error).__name__}: {error}")
        break
    if client.truncated:
        report.add_issue("output-truncated", "too much output: the rest was dropped")
    report.seconds = time.monotonic() - started
    return report


async def _maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value
