"""Hints for common notebook mistakes, shown under the error the student just got.

Installed by the lesson's setup cell (:func:`kms_course.sandbox.start_sandbox`) when it runs inside
IPython; elsewhere it does nothing. It never hides the original error: IPython shows the traceback
as usual (``InteractiveShell.set_custom_exc``,
https://ipython.readthedocs.io/en/stable/api/generated/IPython.core.interactiveshell.html), then the
hint.
"""

from __future__ import annotations

import re
from typing import Any

#: moto 5 replaced the per-service decorators (``mock_kms``, ``mock_s3``, ...) by one ``mock_aws``
#: (https://docs.getmoto.org/en/latest/docs/getting_started.html); tutorials for moto 4 still use them.
_OLD_MOTO_IMPORT = re.compile(r"cannot import name '(mock_[a-z0-9_]+)' from 'moto'")


def hint_for(error: BaseException) -> str | None:
    """The hint (str) for ``error``, or None when there is none."""
    match = _OLD_MOTO_IMPORT.search(str(error))
    if isinstance(error, ImportError) and match:
        return (
            f"Hint: moto 5 has no {match.group(1)}; one mock_aws replaced all the per-service "
            "mocks. In this course you need neither: the setup cell's start_sandbox() already "
            "runs every call against the offline sandbox."
        )
    return None


def install() -> bool:
    """Show :func:`hint_for`'s hints under matching errors in this IPython kernel.

    Returns:
        True if installed (inside IPython), False otherwise.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False

    def show(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> None:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        hint = hint_for(value)
        if hint:
            print(hint)

    shell.set_custom_exc((ImportError,), show)
    return True
