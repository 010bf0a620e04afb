"""The student's workspace: the student version of every lesson, in a folder of the student's own.

``kms-course lab`` opens this folder, never the instructor's master notebooks. On the first start
it is filled with the release of the masters (:func:`kms_course.instructor.release.build`: no
solutions, no outputs, text, setup and check cells locked). Afterwards a notebook the student has
changed is never written again; a lesson the course adds later is copied in, and a lesson the course
changed is updated only where the student has not touched it (otherwise the student is told).

Where: ``--workspace DIR``, else ``$KMS_COURSE_WORKSPACE``, else ``~/kms-course-work``. What was
written is recorded in ``<workspace>/.kms-course/manifest.json`` (SHA-256 of each notebook as
written and of the release it came from); a notebook whose file no longer matches what was
written counts as the student's.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from kms_course.errors import CourseError

#: Environment variable naming the workspace folder.
WORKSPACE_ENV = "KMS_COURSE_WORKSPACE"
MANIFEST = Path(".kms-course") / "manifest.json"


def default_workspace() -> Path:
    """``$KMS_COURSE_WORKSPACE``, else ``~/kms-course-work``."""
    configured = os.environ.get(WORKSPACE_ENV)
    return Path(configured).expanduser() if configured else Path.home() / "kms-course-work"


def _sha(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


@dataclass
class SyncReport:
    """What :func:`sync` did, notebook file names per outcome."""

    folder: Path
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # the student's, and the course has a newer one
    unchanged: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable lines: where the workspace is and what changed in it."""
        out = [f"Your workspace: {self.folder} (your own copy; the course never overwrites your work)"]
        if self.added:
            out.append(f"  added {len(self.added)} lesson(s): {', '.join(self.added)}")
        if self.updated:
            out.append(
                f"  updated {len(self.updated)} lesson(s) you had not changed: {', '.join(self.updated)}"
            )
        for name in self.kept:
            out.append(
                f"  kept your edited {name}; the course has a newer version of it: rename or move "
                "yours and start kms-course lab again to get it"
            )
        return out


def _read_manifest(folder: Path) -> dict:
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return {"notebooks": {}}
    if not isinstance(data, dict) or not isinstance(data.get("notebooks"), dict):
        return {"notebooks": {}}
    return data


def sync(folder: Path, source: Path | None = None) -> SyncReport:
    """Create or bring up to date the workspace ``folder`` from the masters in ``source``.

    Args:
        folder: the workspace (created if needed).
        source: the master notebooks (default: the course's ``notebooks/``).

    Returns:
        A :class:`SyncReport`.

    Raises:
        CourseError: the folder is a file or cannot be written, the masters are missing or
            broken (from :func:`kms_course.instructor.release.build`).
    """
    import nbformat

    from kms_course.atomic import atomic_write_text
    from kms_course.instructor.release import build, check_out

    folder = Path(folder).expanduser()
    if source is not None and Path(source).resolve() == folder.resolve():
        raise CourseError("The workspace must not be the master folder: choose another --workspace.")
    check_out(folder, "The workspace", "your lesson notebooks (--workspace DIR or KMS_COURSE_WORKSPACE)")
    released = {name: nbformat.writes(nb) for name, nb in build(source).items()}
    manifest = _read_manifest(folder)
    records: dict = manifest["notebooks"]
    report = SyncReport(folder)
    for name, text in released.items():
        path = folder / name
        record = records.get(name) if isinstance(records.get(name), dict) else None
        release_sha = _sha(text)
        if not path.exists():
            atomic_write_text(path, text)
            records[name] = {"written": release_sha, "release": release_sha}
            report.added.append(name)
            continue
        current = _sha(path.read_bytes())
        if record and current == record.get("written"):  # untouched since the course wrote it
            if record.get("written") != release_sha:
                atomic_write_text(path, text)
                records[name] = {"written": release_sha, "release": release_sha}
                report.updated.append(name)
            else:
                report.unchanged.append(name)
            continue
        # The student's own file: never written again.
        if record is None or record.get("release") != release_sha:
            report.kept.append(name)
        else:
            report.unchanged.append(name)
        if record is None:
            records[name] = {"written": None, "release": release_sha}
    from kms_course import __version__

    manifest["course_version"] = __version__
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return report
