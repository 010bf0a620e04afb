"""The grader's machinery: its own sandbox server, submissions, execution, and the worker pool.

``kms-course grade`` (:mod:`kms_course.instructor.grade`) and ``kms-course validate``
(:mod:`kms_course.instructor.validate`) are thin command-line layers over this package.
"""
