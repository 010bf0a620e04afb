"""The student side: what a lesson's cells use besides the sandbox.

* :mod:`~kms_course.lessons.exercises`: the exercise registry and ``check("exercise-id")``;
  :mod:`~kms_course.lessons.checks` holds one check module per lesson (hidden from graded
  kernels, so nothing here imports it at import time).
* :mod:`~kms_course.lessons.cells`: what a lesson's cells are (exercise, role, answer cells).
* :mod:`~kms_course.lessons.cellruns`, :mod:`~kms_course.lessons.hints`,
  :mod:`~kms_course.lessons.progress`, :mod:`~kms_course.lessons.solutions`,
  :mod:`~kms_course.lessons.practice`: which answer cells ran, short errors and hints, the
  progress panel, solutions on request, the capstone's practice setup.
* :mod:`~kms_course.lessons.lab`, :mod:`~kms_course.lessons.workspace`: ``kms-course lab`` and
  the student's own copy of the lessons.
* :mod:`~kms_course.lessons.widgets`: the key explorer, the envelope stepper, key display.

It imports from the sandbox and envelope layers, never from the instructor's
(``tests/test_layout.py``).
"""
