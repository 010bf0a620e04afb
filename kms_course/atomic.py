"""Files that are replaced only when their new content is complete.

Every file the course writes for someone (gradebook results, released notebooks, feedback pages,
encrypted and decrypted files, the server's state) is written to a temporary file in the same
folder and then renamed over the target with ``os.replace``, which is atomic on POSIX and Windows
(https://docs.python.org/3/library/os.html#os.replace): a reader sees the old file or the new
one, never half of one, and a failure leaves the old file as it was and no temporary file behind.

Temporary files:

* are named ``.<name>.kms-course-<pid>-<12 hex digits>.part`` beside ``<name>`` (``<pid>``: the
  writing process), so they are recognised without doubt as ours and as written for ``<name>``;
* are created ``0600`` (``O_CREAT | O_EXCL``, never world-readable, whatever the umask) and get the
  target's final mode only once their content is complete, just before the rename: a half-written
  file, e.g. the start of a decrypted plaintext, is readable by its owner only;
* are removed on every failure Python sees (any exception, ``KeyboardInterrupt`` included);
* hold an exclusive ``flock`` while they are written
  (https://man7.org/linux/man-pages/man2/flock.2.html), which the kernel releases when the writer
  dies, even by ``kill -9``. The next :func:`atomic_write` to the same target removes the
  temporaries of dead writers (:func:`remove_stale_temporaries`); those of live writers are
  left alone.

A new file gets mode ``0o666`` minus the umask (usually ``0644``), as ``open()`` would create it,
not the ``0600`` of :func:`tempfile.mkstemp`
(https://docs.python.org/3/library/tempfile.html#tempfile.mkstemp); a replaced file keeps its own.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows: no flock; stale temporaries are then recognised by age only
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "TEMP_MARK",
    "atomic_write",
    "atomic_write_text",
    "current_umask",
    "remove_stale_temporaries",
    "temporary_name",
]

#: The word in every temporary file name that marks it as written by kms-course.
TEMP_MARK = "kms-course"
#: Characters of the target's name kept in a temporary's name: with the ~40 added characters the
#: name stays under the 255-byte limit of common file systems.
_NAME_CHARS = 180
#: A temporary of a *live* process whose lock is free is left alone this long (seconds): between
#: creating the file and locking it a writer holds no lock for a few microseconds. Older ones
#: belong to an earlier process that had the same PID.
_UNLOCKED_GRACE_SECONDS = 10.0
#: Temporaries named as ``tempfile.mkstemp`` named them (kms-course before this naming) have no
#: PID or lock: they are removed once untouched for this long (seconds). Without ``flock``
#: (Windows) every temporary of another process is treated so.
LEGACY_STALE_SECONDS = 3600.0
_OWN_LOCK = threading.Lock()
_OWN_LIVE: set[str] = set()  # paths of the temporaries this process is writing now


def current_umask() -> int:
    """This process's file mode creation mask (e.g. ``0o022``), read without changing it for good.

    Linux shows it in ``/proc/self/status``
    (https://man7.org/linux/man-pages/man5/proc_pid_status.5.html); elsewhere it is read with
    :func:`os.umask` set and restored at once.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~current_umask()


def _stem(path: Path) -> str:
    return path.name[:_NAME_CHARS]


def temporary_name(path: str | Path, pid: int | None = None) -> str:
    """A fresh temporary file name for ``path``: ``.<name>.kms-course-<pid>-<12 hex>.part``.

    Args:
        path: the target file.
        pid: the writer's process ID; default this process's.

    Returns:
        The file name only (no folder), unique with overwhelming probability (48 random bits).
    """
    pid = os.getpid() if pid is None else pid
    return f".{_stem(Path(path))}.{TEMP_MARK}-{pid}-{secrets.token_hex(6)}.part"


def _pattern(path: Path) -> re.Pattern[str]:
    stem = re.escape(_stem(path))
    return re.compile(rf"\.{stem}\.{TEMP_MARK}-(?P<pid>[0-9]+)-[0-9a-f]{{12}}\.part")


def _legacy_pattern(path: Path) -> re.Pattern[str]:
    # tempfile.mkstemp(prefix=".<name>.", suffix=".part"): 8 characters of [a-z0-9_]
    return re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.part")


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped, counts as dead)."""
    if pid <= 0:
        return False
    try:
        # signal 0: an existence check only (https://man7.org/linux/man-pages/man2/kill.2.html)
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:  # Linux: state Z (zombie) or X (dead), the third field of /proc/<pid>/stat
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _remove_if_unlocked(candidate: Path, decide: Callable[[os.stat_result], bool]) -> bool:
    """Remove ``candidate`` if it is our own regular file, nobody holds its lock and
    ``decide(stat)`` agrees; ``True`` if it was removed. Never follows a symbolic link."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(candidate, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False  # gone already, a symbolic link, or not ours to read
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return False
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            return False
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False  # a live writer holds it
        if not decide(info):
            return False
        now = os.lstat(candidate)
        if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
            return False  # replaced since we opened it
        os.unlink(candidate)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporary files that killed writers left beside ``path``; the removed paths.

    A temporary ``.<name>.kms-course-<pid>-<hex>.part`` is removed when nobody holds its lock
    and either its writer ``<pid>`` is no longer running (or is this process, which is not
    writing it), or it is older than a few seconds (the PID was reused). Temporaries in the form
    older kms-course versions used (``.<name>.<8 characters>.part``) are removed once untouched
    for :data:`LEGACY_STALE_SECONDS`. Only regular files owned by this user are touched; symbolic
    links never. Without ``flock`` (Windows), temporaries of other processes are removed after
    :data:`LEGACY_STALE_SECONDS` only.

    Errors are ignored: cleaning up never makes a write fail.

    Args:
        path: the target file whose folder is searched.

    Returns:
        The temporary files removed, as paths.
    """
    path = Path(path)
    ours, legacy = _pattern(path), _legacy_pattern(path)
    prefix = f".{_stem(path)}."
    removed: list[Path] = []
    try:
        entries = [e.name for e in os.scandir(path.parent) if e.name.startswith(prefix)]
    except OSError:
        return removed
    now = time.time()
    for name in entries:
        candidate = path.parent / name
        match = ours.fullmatch(name)
        if match:
            pid = int(match["pid"])

            def decide(info: os.stat_result, pid: int = pid, candidate: Path = candidate) -> bool:
                if pid == os.getpid():
                    with _OWN_LOCK:
                        return str(candidate) not in _OWN_LIVE
                if fcntl is None:
                    return now - info.st_mtime > LEGACY_STALE_SECONDS
                return not _pid_alive(pid) or now - info.st_mtime > _UNLOCKED_GRACE_SECONDS

        elif legacy.fullmatch(name):

            def decide(info: os.stat_result) -> bool:
                return now - info.st_mtime > LEGACY_STALE_SECONDS

        else:
            continue
        if _remove_if_unlocked(candidate, decide):
            removed.append(candidate)
    return removed


def _create_temporary(path: Path) -> tuple[int, Path]:
    """Create, lock and register a new 0600 temporary file for ``path``: ``(fd, its path)``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.parent / temporary_name(path)
        with _OWN_LOCK:
            _OWN_LIVE.add(str(tmp))  # before it exists: a cleaner in another thread skips it
        try:
            fd = os.open(tmp, flags, 0o600)
        except FileExistsError:
            _forget(tmp)
            continue
        except BaseException:
            _forget(tmp)
            raise
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            _forget(tmp)
            raise
        return fd, tmp
    raise FileExistsError(f"Could not create a temporary file beside {str(path)!r}.")


def _forget(tmp: Path) -> None:
    with _OWN_LOCK:
        _OWN_LIVE.discard(str(tmp))


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None], *, sync: bool = True) -> None:
    """Call ``write(f)`` on a new temporary file beside ``path``, then rename it to ``path``.

    First removes the temporaries that killed writers left for ``path``
    (:func:`remove_stale_temporaries`). The temporary file is ``0600`` while ``write`` runs and
    gets ``path``'s mode (kept if ``path`` exists, else ``0o666`` minus the umask) just before
    the rename, which happens while its lock is still held.

    Args:
        path: the file to create or replace; its folder must exist.
        write: writes the content to the binary file object it is given.
        sync: ``os.fsync`` the file before the rename, so the new content survives a power cut
            (https://man7.org/linux/man-pages/man2/fsync.2.html); off for large data files, where
            it would cost a full flush to disk.

    Raises:
        OSError: the folder cannot be written. Whatever ``write`` raises (``KeyboardInterrupt``
            included), after the temporary file is removed; ``path`` is then unchanged.
    """
    path = Path(path)
    remove_stale_temporaries(path)
    fd, tmp = _create_temporary(path)
    replaced = False
    try:
        with os.fdopen(fd, "wb") as f:  # buffered: write() always writes everything
            write(f)
            f.flush()
            if sync:
                os.fsync(f.fileno())
            os.chmod(f.fileno() if os.chmod in os.supports_fd else tmp, _mode_for(path))
            if fcntl is not None:  # POSIX renames an open file; the lock is kept until done
                os.replace(tmp, path)
                replaced = True
        if not replaced:
            os.replace(tmp, path)  # Windows cannot rename an open file
            replaced = True
    except BaseException:
        if not replaced:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        _forget(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` with :func:`atomic_write`, creating its folder if needed.

    Raises:
        OSError: the folder cannot be created or written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))
