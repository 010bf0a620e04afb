"""Files that are replaced only when their new content is complete.

Every file the course writes for someone (gradebook results, released notebooks, feedback pages,
encrypted and decrypted files, the server's state) is written to a temporary file in the same
folder and then renamed over the target with ``os.replace``, which is atomic on POSIX and Windows
(https://docs.python.org/3/library/os.html#os.replace): a reader sees the old file or the new
one, never half of one, and a failure leaves the old file as it was and no temporary file behind.

A new file gets mode ``0o666`` minus the umask (usually ``0644``), as ``open()`` would create it,
not the ``0600`` of :func:`tempfile.mkstemp`
(https://docs.python.org/3/library/tempfile.html#tempfile.mkstemp); a replaced file keeps its own.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


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


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None], *, sync: bool = True) -> None:
    """Call ``write(f)`` on a new temporary file beside ``path``, then rename it to ``path``.

    Args:
        path: the file to create or replace; its folder must exist.
        write: writes the content to the binary file object it is given.
        sync: ``os.fsync`` the file before the rename, so the new content survives a power cut
            (https://man7.org/linux/man-pages/man2/fsync.2.html); off for large data files, where
            it would cost a full flush to disk.

    Raises:
        OSError: the folder cannot be written. Whatever ``write`` raises, after the temporary file
            is removed; ``path`` is then unchanged.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        os.chmod(fd, _mode_for(path))
        with os.fdopen(fd, "wb") as f:  # buffered: write() always writes everything
            write(f)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` with :func:`atomic_write`, creating its folder if needed.

    Raises:
        OSError: the folder cannot be created or written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))
