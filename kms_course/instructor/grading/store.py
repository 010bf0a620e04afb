"""The result files of ``--out`` during one ``kms-course grade`` run, trusted only with proof.

Built before any student code runs: it reads the manifest and its journal
(:mod:`kms_course.instructor.grading.manifest`), keeps the result files whose HMAC tag checks under
the grader's key and that sit where their own student and submission names put them, and moves
everything else under ``results/`` to ``quarantine/`` with one line each (one line in all for the
files of a manifest from an older kms-course). :meth:`ResultStore.write` stores each new result
with its grading fingerprint and journals its tag at once; :meth:`ResultStore.finish` writes this
run's results, checks the kept files again and rewrites the manifest.

Every failure to write (a full disk, a folder made read-only) raises :class:`WriteFailed`, a
:class:`~kms_course.errors.CourseError` whose one line says what failed, that the previous
``grades.csv``, ``grades.json`` and manifest are intact, and how to resume.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kms_course.instructor import gradebook
from kms_course.errors import CourseError
from kms_course.instructor.grading import manifest
from kms_course.instructor.grading.fingerprint import changed_parts
from kms_course.instructor.grading.grader_key import sign

#: Statuses that say the grader, not the submission, failed: never reused by a re-run.
GRADER_FAULTS = ("grader-crashed", "grader-error")


class WriteFailed(CourseError):
    """A gradebook file could not be written; the message says what, and how to resume."""


@contextmanager
def writing(what: str, out: str, kept: int | None = None) -> Iterator[None]:
    """Turn an ``OSError`` raised in the block into :class:`WriteFailed` about ``what``.

    Args:
        what: the file or files being written (``"results/ana/03.json"``, ``"grades.csv"``).
        out: the ``--out`` folder.
        kept: results already stored and journaled in this run (said in the message).
    """
    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error)
        saved = f"; the {kept} result(s) finished in this run are kept" if kept else ""
        raise WriteFailed(
            f"cannot write {what} in {out} ({reason}): the previous grades.csv, grades.json and "
            f"manifest are intact{saved}. Free some space (or fix the folder) and run the same "
            "command again: finished results are reused."
        ) from None


class ResultStore:
    """The trusted results of ``out`` and the manifest entries of the files the grader wrote.

    Args:
        out: the ``--out`` folder (locked by this run).
        key: the grader's key (:func:`kms_course.instructor.grading.grader_key.load_key`).
        fingerprints: ``(student, key)`` -> this run's grading fingerprint of that submission.

    Raises:
        WriteFailed: a file that must be quarantined cannot be moved.
    """

    def __init__(self, out: str, key: bytes, fingerprints: dict[tuple[str, str], dict[str, Any]]):
        self.out = out
        self.key = key
        self.fingerprints = fingerprints
        self.previous: dict[tuple[str, str], dict[str, Any]] = {}
        self.entries: dict[str, str] = {}
        self.fresh = 0  # results of this run stored and journaled
        #: set by a signal handler while :meth:`write` runs; raised when it is done
        self.interrupted: BaseException | None = None
        self.writing = False
        loaded = manifest.load(out)
        if loaded.legacy:
            print(f"  {manifest.MANIFEST} was written by an older kms-course (plain SHA-256, which "
                  f"student code could forge): its {len(loaded.legacy)} result(s) are not trusted "
                  f"and are graded again (moved to {gradebook.QUARANTINE}/)")
        for name, result in manifest.trusted(out, loaded.entries, key).items():
            student, sub_key = str(result.get("student")), str(result.get("key"))
            if gradebook.manifest_name(out, gradebook.result_path(out, student, sub_key)) == name:
                self.previous[(student, sub_key)] = result
                self.entries[name] = loaded.entries[name]
        self._quarantine(quiet=set(loaded.legacy))

    def stale(self, submission, graded_as: str | None, sha256: str) -> list[str] | None:
        """None if the trusted result of ``submission`` can be reused, else why not.

        Returns:
            None (reuse it), ``[]`` (no trusted result of this file content and lesson, or a
            grader fault), or what changed in the grading fingerprint, in words.
        """
        old = self.previous.get((submission.student, submission.key))
        if not old or not sha256 or old.get("sha256") != sha256 or old.get("graded_as") != graded_as:
            return []
        if any(word in str(old.get("status", "")) for word in GRADER_FAULTS):
            return []
        parts = changed_parts(old.get("fingerprint"), self.fingerprints.get((submission.student, submission.key)) or {})
        return parts or None

    def write(self, result: dict[str, Any]) -> None:
        """Store one result (with its fingerprint) and journal its tag.

        Raises:
            WriteFailed: the result or the journal cannot be written.
            KeyboardInterrupt: a signal arrived while writing (raised once the write is done).
        """
        self.writing = True
        try:
            self._write(result)
            self.fresh += 1
        finally:
            self.writing = False
        if self.interrupted is not None:
            raise self.interrupted

    def _write(self, result: dict[str, Any]) -> None:
        fingerprint = self.fingerprints.get((result["student"], result["key"]))
        if fingerprint is not None:
            result["fingerprint"] = fingerprint
        name = gradebook.manifest_name(
            self.out, gradebook.result_path(self.out, result["student"], result["key"]))
        with writing(name, self.out, self.fresh):
            path, data = gradebook.write_result(self.out, result)
            tag = sign(self.key, name, data)
            if self.entries.get(name) != tag:
                manifest.append(self.out, name, tag)
                self.entries[name] = tag

    def finish(self, submissions, fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The results of this run's ``submissions`` (fresh ones first, else the trusted earlier
        ones), sorted by student; every file is stored and the manifest written.

        Raises:
            WriteFailed: a result, the manifest or a quarantine move fails.
        """
        wanted = {(s.student, s.key) for s in submissions}
        final = {k: r for k, r in self.previous.items() if k in wanted}
        final.update({(r["student"], r["key"]): r for r in fresh})
        results = sorted(final.values(), key=lambda r: (r["student"], r.get("key") or ""))
        for result in results:
            self._write(result)
        self.save()
        self._quarantine()
        return results

    def save(self) -> None:
        """Write the manifest from memory, keeping only the files still holding the bytes the
        grader wrote (a kernel may have overwritten one during the run).

        Raises:
            WriteFailed: the manifest cannot be written (the previous one and the journal stay).
        """
        still = manifest.trusted(self.out, self.entries, self.key)
        self.entries = {name: self.entries[name] for name in still}
        with writing(manifest.MANIFEST, self.out, self.fresh):
            manifest.save(self.out, self.entries)

    def _quarantine(self, quiet: set[str] = frozenset()) -> None:
        with writing(f"{gradebook.QUARANTINE}/", self.out):
            moved = gradebook.quarantine(self.out, set(self.entries))
        for name in moved:
            if name not in quiet:
                print(f"  ignored a result file the grader did not write: {name} "
                      f"(moved to {gradebook.QUARANTINE}/)")


def regrade_reasons(reasons: list[list[str]]) -> str | None:
    """One line saying why submissions with a trusted result are graded again, or None."""
    counted = Counter(part for parts in reasons for part in parts)
    if not reasons:
        return None
    detail = ", ".join(f"{part} ({n})" for part, n in counted.most_common())
    return f"Grading again {len(reasons)} submission(s) whose grading changed since: {detail}."
