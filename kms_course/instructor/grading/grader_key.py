"""The grader's secret key, which proves that a result file under ``--out`` was written by a grader.

Student code may learn where ``--out`` is and, unjailed, write there; a SHA-256 of a result file
proves nothing, since the writer can compute it too. Each manifest entry is therefore an
HMAC-SHA256 (https://docs.python.org/3/library/hmac.html, RFC 2104) of the result file's name
and bytes under a 256-bit key that lives outside ``--out``, in the grader's private state:

* ``$KMS_COURSE_GRADER_KEY_FILE`` if set (tests, or a key kept elsewhere on purpose);
* else ``grader.key`` in the user state folder of platformdirs
  (https://platformdirs.readthedocs.io/en/latest/api.html#user-state-directory), on Linux
  ``$XDG_STATE_HOME/kms-course/grader.key`` or ``~/.local/state/kms-course/grader.key``.

The key is made on first use from :func:`secrets.token_bytes` (32 bytes, stored as 64 hex
digits), in a folder of mode ``0700``, as a file of mode ``0600`` that appears complete or not at
all (written to a temporary file, then hard-linked to its name, which fails if another grader
made it first: that one's key is then used). A key file readable by other users, damaged, or not
a regular file is refused with a message saying what to do.

What it protects against: a jailed kernel (:mod:`kms_course.instructor.grading.jail`) sees neither
HOME nor this folder, so even a kernel that could write ``--out`` cannot make an entry the grader
trusts. What it does not: with ``--no-jail`` the kernels run as the same user as the grader and can
read this file; a result is then only as trustworthy as the submissions are. Kernels are started
from a freshly executed zygote (:mod:`kms_course.instructor.grading.zygote`), not forked from the
grader, so the key in the grader's memory is not in theirs.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from hashlib import sha256
from pathlib import Path

from kms_course.errors import CourseError

#: Environment variable naming the key file (overrides the state folder).
KEY_FILE_ENV = "KMS_COURSE_GRADER_KEY_FILE"
#: Bytes of key material (HMAC-SHA256's block is 64 bytes; 32 is SHA-256's strength).
KEY_BYTES = 32
#: What every tag covers before the file name: a result entry cannot pass for anything else.
_CONTEXT = b"kms-course result v1\0"


def key_path() -> Path:
    """Where the grader's key is: ``$KMS_COURSE_GRADER_KEY_FILE``, else the user state folder."""
    override = os.environ.get(KEY_FILE_ENV)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_state_dir

    return Path(user_state_dir("kms-course", appauthor=False)) / "grader.key"


def load_key(path: Path | None = None) -> bytes:
    """The grader's key, made on first use (see the module's rule).

    Args:
        path: the key file; default :func:`key_path`.

    Returns:
        32 bytes.

    Raises:
        CourseError: the key cannot be created (read-only or foreign folder), or the file is
            readable by group or others, not a regular file of this user, or not 64 hex digits.
            The message names the file and says what to do.
    """
    path = path or key_path()
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    try:
        _create(path)
    except OSError as error:
        raise CourseError(
            f"cannot create the grader key {path} ({error.strerror or error}): set "
            f"{KEY_FILE_ENV} to a file in a folder only you can write."
        ) from None
    return _read(path)


def _read(path: Path) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise CourseError(
            f"cannot read the grader key {path} ({error.strerror or error}): it must be a "
            "regular file of yours; delete it to make a new one (every result is then graded again)."
        ) from None
    try:
        info = os.fstat(fd)
        text = os.read(fd, 4 * KEY_BYTES).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        raise CourseError(f"the grader key {path} is not a regular file of yours: delete it to make a new one.")
    if info.st_mode & 0o077:
        raise CourseError(
            f"the grader key {path} is readable by others (mode {stat.S_IMODE(info.st_mode):04o}): "
            f"run `chmod 600 {path}`, or delete it to make a new one (every result is then graded again)."
        )
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise CourseError(
            f"the grader key {path} is damaged (not {2 * KEY_BYTES} hex digits): delete it to make "
            "a new one (every result is then graded again)."
        )
    return key


def _create(path: Path) -> None:
    """Write a new key to ``path`` unless one appears there first (never overwrites)."""
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # new folders: 0700
    if not os.environ.get(KEY_FILE_ENV) and stat.S_IMODE(folder.stat().st_mode) & 0o077:
        os.chmod(folder, 0o700)  # our own state folder, made by an earlier version or by hand
    temporary = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.part"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_bytes(KEY_BYTES).hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temporary, path)  # atomic, and never replaces an existing key
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)


def sign(key: bytes, name: str, data: bytes) -> str:
    """The manifest tag of result file ``name`` (relative to ``--out``) holding ``data``.

    Returns:
        64 hex digits: HMAC-SHA256 over a fixed context, the UTF-8 name, a NUL, and the bytes
        (the name is covered, so a genuine result copied under another name is not trusted).
    """
    message = _CONTEXT + name.encode("utf-8", "surrogateescape") + b"\0" + data
    return hmac.new(key, message, sha256).hexdigest()


def verify(key: bytes, name: str, data: bytes, tag: str) -> bool:
    """True if ``tag`` is :func:`sign` of ``name`` and ``data`` (compared in constant time)."""
    return isinstance(tag, str) and hmac.compare_digest(sign(key, name, data), tag)
