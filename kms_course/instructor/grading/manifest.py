"""The grader's manifest: which result files under ``--out`` the grader wrote, with proof.

``OUT/manifest.json`` maps each result file (its path relative to ``OUT``, with ``/``) to an
HMAC-SHA256 tag of its name and bytes (:func:`kms_course.instructor.grading.grader_key.sign`), under
a key no kernel can read. While a batch runs, each new entry is also appended at once to
``OUT/manifest.journal`` (one JSON line per result, no fsync), so a grader killed at any point,
even by ``kill -9``, loses no finished result: the next run reads the manifest, then the journal,
and trusts every file whose tag checks. At the end of a run the manifest is rewritten atomically
(:mod:`kms_course.atomic`) and the journal removed.

A forged result, or a forged entry in either file, fails the tag check and is not trusted: only
the key's holder can make a valid tag. A manifest written before tags existed (plain SHA-256,
which anybody can compute) is not trusted at all: :func:`load` reports its entries as ``legacy``.
Sources: https://docs.python.org/3/library/hmac.html, https://docs.python.org/3/library/os.html#os.replace.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kms_course.atomic import atomic_write_text
from kms_course.instructor.grading.grader_key import verify

MANIFEST = "manifest.json"
JOURNAL = "manifest.journal"
#: The ``format`` of manifests with HMAC-SHA256 tags; any other manifest is legacy.
FORMAT = "kms-course-manifest/2 hmac-sha256"


@dataclass
class Loaded:
    """What :func:`load` found.

    Attributes:
        entries: result file name -> tag (manifest first, then the journal's later lines).
        legacy: names listed by a manifest without tags (an older kms-course); never trusted.
    """

    entries: dict[str, str] = field(default_factory=dict)
    legacy: list[str] = field(default_factory=list)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load(out: str | Path) -> Loaded:
    """Read ``OUT/manifest.json`` and ``OUT/manifest.journal`` (missing or damaged: empty)."""
    loaded = Loaded()
    data = _read_json(Path(out) / MANIFEST)
    if isinstance(data, dict) and isinstance(data.get("results"), dict):
        names = {str(k): v for k, v in data["results"].items()}
        if data.get("format") == FORMAT:
            loaded.entries = {k: v for k, v in names.items() if isinstance(v, str)}
        else:
            loaded.legacy = sorted(names)
    for name, tag in _journal_lines(Path(out) / JOURNAL):
        loaded.entries[name] = tag
    return loaded


def _journal_lines(path: Path) -> list[tuple[str, str]]:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return []
    with os.fdopen(fd, "rb") as f:
        raw = f.read()
    lines = []
    for line in raw.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash, or garbage: ignored
        if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("hmac"), str):
            lines.append((item["name"], item["hmac"]))
    return lines


def append(out: str | Path, name: str, tag: str) -> None:
    """Append one entry to ``OUT/manifest.journal`` (one ``write`` of one line, ``O_APPEND``).

    Raises:
        OSError: the journal cannot be written (e.g. ``ENOSPC``).
    """
    line = json.dumps({"name": name, "hmac": tag}).encode("utf-8") + b"\n"
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(Path(out) / JOURNAL, flags, 0o666)
    try:
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(28, "short write to the manifest journal")
    finally:
        os.close(fd)


def save(out: str | Path, entries: dict[str, str]) -> None:
    """Atomically write ``OUT/manifest.json`` from ``entries``, then remove the journal.

    Raises:
        OSError: the manifest cannot be written; the previous one and the journal are then
            unchanged.
    """
    payload = {
        "about": "result files written by kms-course grade, each with an HMAC-SHA256 of its name "
                 "and bytes under the grader's key; any other file under results/ is not trusted",
        "format": FORMAT,
        "results": dict(sorted(entries.items())),
    }
    atomic_write_text(Path(out) / MANIFEST, json.dumps(payload, indent=1))
    Path(out, JOURNAL).unlink(missing_ok=True)


def trusted(out: str | Path, entries: dict[str, str], key: bytes) -> dict[str, dict[str, Any]]:
    """The result files under ``out`` whose tag in ``entries`` checks: file name -> result.

    A symbolic link, a file whose bytes or name do not match its tag, or one that is not a JSON
    object with a ``student`` is left out.
    """
    found: dict[str, dict[str, Any]] = {}
    for name, tag in entries.items():
        path = Path(out) / name
        try:
            if path.is_symlink():
                continue
            raw = path.read_bytes()
        except OSError:
            continue
        if not verify(key, name, raw, tag):
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if isinstance(data, dict) and "student" in data:
            found[name] = data
    return found
