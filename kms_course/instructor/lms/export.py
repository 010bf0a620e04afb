"""``kms-course export canvas --out DIR``: a gradebook for an LMS, from ``DIR/grades.json``.

One sub-command per LMS; today ``canvas`` (:mod:`kms_course.instructor.lms.canvas`). Gradescope
grades on its own servers instead: see ``kms-course gradescope``
(:mod:`kms_course.instructor.lms.gradescope`).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-commands of ``kms-course export`` and their options."""
    formats = parser.add_subparsers(dest="format", metavar="LMS", parser_class=type(parser))
    formats.required = True
    canvas = formats.add_parser(
        "canvas", help="a CSV for Canvas's gradebook import (Grades, Import)",
        description="Write DIR/canvas.csv from DIR/grades.json: the columns Student, ID, SIS User "
        "ID, SIS Login ID, Section, one per lesson, and a Points Possible row.",
    )
    canvas.add_argument("--out", required=True, metavar="DIR",
                        help="the gradebook folder of kms-course grade (holds grades.json)")
    canvas.add_argument("--roster", default=None, metavar="CSV",
                        help="Canvas's gradebook export (or a CSV with its student columns) to take "
                        "the ids from (default: the kms-course name as SIS Login ID)")
    canvas.add_argument("--assignment", action="append", default=None, metavar="NAME",
                        help="the Canvas column: NAME, or 'NAME (12345)' for the existing assignment "
                        "12345; STEM=NAME for one of several lessons (default: the lesson's stem)")


def run(args: argparse.Namespace) -> int:
    """Write the export; 0 when every student is in it, 1 when some had no roster row.

    Raises:
        CourseError: see :func:`kms_course.instructor.lms.canvas.export`.
    """
    from kms_course.instructor.lms import canvas

    path, count, unmatched = canvas.export(args.out, args.roster, args.assignment)
    print(f"Wrote {path}: {count} student(s). In Canvas: Grades, Import, choose this file.")
    if unmatched:
        shown = ", ".join(unmatched[:5]) + (f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else "")
        print(f"kms-course export: {len(unmatched)} student(s) not in the roster, left out: {shown}; "
              f"add a '{canvas.ROSTER_KEY}' column to the roster naming them.", file=sys.stderr)
        return 1
    return 0
