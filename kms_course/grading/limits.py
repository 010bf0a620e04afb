"""Default grading limits (light module: the CLI reads these without importing nbclient).

nbgrader's per-cell default is 30 s and it has no per-notebook limit
(https://nbgrader.readthedocs.io/en/stable/configuration/config_options.html, ``ExecutePreprocessor.timeout``);
we add one, as otter-grader's ``--timeout`` does.
"""

#: Seconds a cell may run before the kernel is interrupted.
CELL_TIMEOUT = 30.0
#: Seconds a whole submission may run before its kernel is killed.
SUBMISSION_TIMEOUT = 180.0
#: Characters of output kept per cell, per notebook, and for an answer probe's cell.
MAX_CELL_OUTPUT = 100_000
MAX_TOTAL_OUTPUT = 1_000_000
MAX_PROBE_OUTPUT = 1_000_000
