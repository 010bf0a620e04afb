"""Importing this module freezes the importing process's heap (the last step of a preload).

A forked child that runs a garbage collection walks every object it inherited, and so writes to,
and copies, nearly every page it shares with its parent. ``gc.freeze()`` moves all objects alive
now into a permanent generation that collections skip, so the children of a process that has
preloaded its imports keep sharing them (https://docs.python.org/3/library/gc.html#gc.freeze).
The local Dask cluster's forkserver can only import modules before it forks its workers
(https://docs.python.org/3/library/multiprocessing.html#multiprocessing.set_forkserver_preload),
so this module is the last in its preload list (:mod:`kms_course.instructor.grading.forkserver`).
"""

from __future__ import annotations

import gc


def freeze() -> None:
    """Collect once, then freeze every object alive (the caller forks its workers next)."""
    gc.collect()
    gc.freeze()


freeze()
