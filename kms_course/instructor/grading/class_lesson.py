"""Which lesson a batch is graded against when ``kms-course grade`` gets no ``--lesson``.

The rule, decided in the grader's process before any student code runs:

* **Several lessons on purpose.** If at least half of the students submitted notebooks of two or
  more different lessons (one folder per student holding several lesson notebooks), every
  submission is graded as its own lesson and the gradebook has the columns of every lesson
  submitted. Fewer than half are strays: one student's extra notebook must not add its lesson's
  columns and points to every classmate (found by a hostile student's trial).
* **One lesson for the class.** Otherwise the class's lesson is the one most submissions
  belong to. Every submission is graded against it; one of
  another lesson gets the status ``wrong-lesson`` and a message saying to grade it separately
  with ``--lesson <stem>``, so a stray notebook never adds its lesson's columns and points to
  every student. A tie between lessons is an error asking for ``--lesson``.

A submission's lesson here is the one its file name names, else the one its exercise ids name
(:mod:`kms_course.instructor.grading.submissions`); a symbolic link counts for no lesson (it is
never graded: status ``symlink``). A file whose name and exercise ids name
different lessons is ``wrong-lesson`` in every mode (see
:func:`kms_course.instructor.grading.worker.grade`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from kms_course.errors import CourseError
from kms_course.instructor.grading.submissions import (
    Submission,
    lesson_by_content,
    lesson_by_name,
    read_notebook,
    symlinked,
)


@dataclass(frozen=True)
class LessonPlan:
    """What the batch is graded against.

    Attributes:
        lesson: the lesson every submission is graded against, or None to grade each submission
            as its own lesson.
        by: ``"option"`` (``--lesson``), ``"class"`` (the class's lesson) or ``"own"``.
        counts: lesson -> number of submissions of it (file name first, then exercise ids).
        own: ``(student, key)`` -> the submission's own lesson (None if unknown); empty with
            ``--lesson``, which needs no submission read.
    """

    lesson: str | None
    by: str
    counts: dict[str, int]
    own: dict[tuple[str, str], str | None] = field(default_factory=dict)

    def graded_against(self, submission: Submission) -> str | None:
        """The lesson whose master grades ``submission``: the batch's, else its own."""
        return self.lesson or self.own.get((submission.student, submission.key))


def submission_lesson(submission: Submission, lessons: dict[str, list[str]]) -> str | None:
    """The lesson ``submission`` is meant to be: named by its file, else by its exercise ids."""
    named = lesson_by_name(submission.path, lessons)
    if named is not None:
        return named
    nb, _, _ = read_notebook(submission.path)
    return lesson_by_content(nb, lessons)


def plan(
    submissions: list[Submission], lessons: dict[str, list[str]], wanted: str | None = None
) -> LessonPlan:
    """Apply the module's rule to a batch.

    Args:
        submissions: the batch (:func:`~kms_course.instructor.grading.submissions.discover`).
        lessons: lesson (notebook stem) -> its exercise ids.
        wanted: the ``--lesson`` option, which wins when given.

    Raises:
        CourseError: no ``--lesson`` and the single-lesson submissions split evenly between two
            or more lessons (the message names them and asks for ``--lesson``).
    """
    if wanted:
        return LessonPlan(wanted, "option", {})
    per_student: dict[str, set[str]] = defaultdict(set)
    counts: Counter[str] = Counter()
    own: dict[tuple[str, str], str | None] = {}
    students = {submission.student for submission in submissions}
    for submission in submissions:
        if symlinked(submission.path):
            own[(submission.student, submission.key)] = None
            continue
        lesson = own[(submission.student, submission.key)] = submission_lesson(submission, lessons)
        if lesson is not None:
            counts[lesson] += 1
            per_student[submission.student].add(lesson)
    several = sum(1 for found in per_student.values() if len(found) > 1)
    if not counts or (several and 2 * several >= len(students)):
        return LessonPlan(None, "own", dict(counts), own)
    ranked = counts.most_common()
    top = [lesson for lesson, n in ranked if n == ranked[0][1]]
    if len(top) > 1:
        split = ", ".join(f"{lesson} ({counts[lesson]})" for lesson in sorted(top))
        raise CourseError(
            f"The submissions split evenly between lessons {split}: pass --lesson with the "
            "class's lesson."
        )
    return LessonPlan(top[0], "class", dict(counts), own)
