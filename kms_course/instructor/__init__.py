"""The instructor side, the top layer: ``kms-course release``, ``validate``, ``grade``,
``gradescope`` and ``export``.

* :mod:`~kms_course.instructor.release`, :mod:`~kms_course.instructor.validate`,
  :mod:`~kms_course.instructor.grade`: the verbs; :mod:`~kms_course.instructor.feedback`,
  :mod:`~kms_course.instructor.gradebook` and :mod:`~kms_course.instructor.out_folder` what they
  write and where.
* :mod:`~kms_course.instructor.transforms`: the release as a chain of small notebook transforms.
* :mod:`~kms_course.instructor.grading`: the jail, the zygote, execution, the pool and the Dask
  cluster, the manifest and the fingerprints.
* :mod:`~kms_course.instructor.lms`: Gradescope and Canvas exports, late rules.

It may import from every layer below; nothing below imports from it (``tests/test_layout.py``).
"""
