"""Hand-off to learning management systems: the instructor's verbs after ``kms-course grade``.

* :mod:`kms_course.instructor.lms.gradescope`: ``kms-course gradescope`` writes a Gradescope
  autograder zip (https://gradescope-autograders.readthedocs.io/en/latest/specs/) whose
  ``run_autograder`` grades the submission with ``kms-course grade`` and writes ``results.json``;
* :mod:`kms_course.instructor.lms.canvas`: ``kms-course export canvas`` writes a CSV for Canvas's
  gradebook import;
* :mod:`kms_course.instructor.lms.late`: late penalties and extensions from a small rule file
  (``kms-course grade --late-rules rules.toml``), applied in ``grades.csv``/``grades.json`` and
  shown in each student's feedback.
"""
