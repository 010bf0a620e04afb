"""One grader per ``--out`` at a time: an exclusive ``flock`` on ``OUT/.lock`` for the whole run.

``flock(LOCK_EX | LOCK_NB)`` (https://man7.org/linux/man-pages/man2/flock.2.html) either takes
the lock at once or fails at once, so a second ``kms-course grade`` on the same folder stops
before it reads or writes anything, naming the grader that holds it (its PID, start time and
host, written into the lock file by the holder). The lock belongs to the open file, and the
kernel drops it when the holder's last copy of that file is closed, which includes every way a
process can die (``kill -9`` too): a lock file left by a dead grader never blocks anybody. What
the file says is only for the message; whether the lock is held is the kernel's answer.

The lock file descriptor is not inherited by programs the grader starts
(``O_CLOEXEC``, https://docs.python.org/3/library/os.html#fd-inheritance); forked pool workers
share it, and so hold the lock until they too are gone.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kms_course.errors import CourseError

#: The lock file, in ``--out``.
LOCK_NAME = ".lock"


class OutBusy(CourseError):
    """Another grader holds the lock of this ``--out``."""


def _holder(fd: int) -> str:
    """Who holds the lock, as the lock file tells it (``"PID 123, started ..."``)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(data["started"])))
        return f"PID {int(data['pid'])} on {data.get('host', '?')}, started {started}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not yet said who it is"


def _describe_self(fd: int) -> None:
    data = json.dumps({
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.time(),
        "command": " ".join(sys.argv)[:1000],
    }).encode("utf-8") + b"\n"
    os.pwrite(fd, data, 0)  # rewrite in place: no new block needed when it is rewritten
    os.ftruncate(fd, len(data))


@contextmanager
def hold(out: str | Path) -> Iterator[Path]:
    """Hold the lock of ``out`` (an existing folder) while the ``with`` block runs.

    Yields:
        The lock file's path.

    Raises:
        OutBusy: another grader holds it; the message names it (PID, host, start time) and says
            to wait for it or pass another ``--out``.
        CourseError: the lock file cannot be opened or written (e.g. a full disk).
    """
    path = Path(out) / LOCK_NAME
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as error:
        raise CourseError(f"--out {out}: cannot open the lock file {path} ({error.strerror or error}).") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutBusy(
                f"another kms-course grade is writing {out} ({_holder(fd)}): wait until it "
                "finishes, or pass another --out."
            ) from None
        try:
            _describe_self(fd)
        except OSError as error:
            raise CourseError(
                f"--out {out}: cannot write the lock file {path} ({error.strerror or error}); "
                "nothing was changed: free some space and run the same command again."
            ) from None
        yield path
    finally:
        os.close(fd)  # releases the lock (the holder's description stays, harmlessly)
