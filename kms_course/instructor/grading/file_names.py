"""File names for students and submissions: one per exact name, short, safe on any file system.

A student's name is shown in the gradebook exactly as given (the folder or file name), but the
files derived from it (``OUT/results/<student>/<submission>.json``, ``OUT/feedback/<student>.html``)
need a name that

* never collides with another student's: ``"Ana Lopez"`` and ``"Ana_Lopez"``, ``"Ana"`` and
  ``"ana"`` (one file on a case-insensitive file system such as macOS's or Windows'), or two
  names that differ only in an accent are different students;
* fits the file system: a component is at most 255 bytes on ext4, XFS, APFS and NTFS
  (https://man7.org/linux/man-pages/man3/pathconf.3.html, ``NAME_MAX``), and a 250-character
  name in UTF-8 can be three times that;
* holds no ``/``, no leading ``.`` and nothing a shell or a browser trips over.

:func:`file_name` keeps a name as it is when it is already such a name (lower-case ASCII letters,
digits, ``_ . -``, at most 64 characters, not ending like a hashed name), so ``results/ana/`` stays
readable; any other name becomes a readable prefix plus ``-`` and 12 hex digits of the SHA-256 of
the exact name (48 bits: for a class of 10,000 names the chance of any collision is below
2e-7). The two forms cannot meet: a kept name never ends in ``-`` + 12 hex digits, a hashed one
always does; all are lower-case, so a case-insensitive file system sees them as distinct too.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

#: Longest name kept as it is, in characters (ASCII: also bytes).
MAX_KEPT = 64
#: Characters of the readable prefix of a hashed name.
PREFIX_CHARS = 40
#: Hex digits of SHA-256 appended to a hashed name.
HASH_DIGITS = 12

_KEPT = re.compile(rf"[a-z0-9][a-z0-9_.-]{{0,{MAX_KEPT - 1}}}")
_HASHED_TAIL = re.compile(rf"-[0-9a-f]{{{HASH_DIGITS}}}$")


def exact_bytes(name: str) -> bytes:
    """The bytes of ``name`` as the file system gave them (undecodable bytes included, see
    https://docs.python.org/3/library/os.html#file-names-command-line-arguments-and-environment-variables)."""
    return name.encode("utf-8", "surrogateescape")


def display_name(name: str) -> str:
    """``name`` as text that can always be written as UTF-8: bytes that were not UTF-8 in the
    file name are shown as ``\\xNN`` (a lone surrogate cannot be written to grades.csv)."""
    return exact_bytes(name).decode("utf-8", "backslashreplace")


def _prefix(name: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    prefix = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return prefix[:PREFIX_CHARS].rstrip("_") or "x"


def file_name(name: str) -> str:
    """The file-system name for a student or submission ``name`` (see the module's rule).

    Args:
        name: the exact name (any string, possibly with surrogate escapes from the file system).

    Returns:
        ``name`` itself when it is a short lower-case ASCII name that cannot look hashed;
        otherwise ``<prefix>-<12 hex digits>``, e.g. ``"Ana Lopez"`` -> ``"ana_lopez-1b1f2c..."``.
        At most 64 ASCII characters; distinct names give distinct results.
    """
    if _KEPT.fullmatch(name) and not _HASHED_TAIL.search(name):
        return name
    digest = hashlib.sha256(exact_bytes(name)).hexdigest()[:HASH_DIGITS]
    return f"{_prefix(name)}-{digest}"
