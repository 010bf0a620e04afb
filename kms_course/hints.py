"""Hints for common notebook mistakes, shown under the error the student just got.

Installed in every kernel of `kms-course lab` and by the lesson's setup cell
(:func:`kms_course.sandbox.start_sandbox`) when it runs inside IPython; elsewhere it does nothing.
It never hides the original error: IPython shows the traceback
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


#: Decrypt's InvalidCiphertextException carries no message, and KMS cannot tell its causes apart
#: (https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html#API_Decrypt_Errors).
_INVALID_CIPHERTEXT = (
    "Hint: KMS cannot tell a changed ciphertext from a different encryption context. Check that "
    "(1) EncryptionContext is exactly the pairs used to encrypt (case-sensitive; order does not "
    "matter); (2) CiphertextBlob is the raw bytes, not base64 text (base64.b64decode() it first); "
    "(3) it is a KMS ciphertext, not an AWS Encryption SDK message (use aws_encryption_sdk or "
    "kms_course.envelope.decrypt_file) or a course envelope (kms_course.envelope.decrypt)."
)
#: Encrypt takes 1 to 4096 bytes of plaintext
#: (https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html#API_Encrypt_RequestSyntax).
_TOO_LONG = (
    "Hint: Encrypt takes at most 4096 bytes of plaintext, counted in bytes, not characters "
    "(len(text.encode('utf-8'))). For more, use envelope encryption: a data key from "
    "GenerateDataKey encrypts the data (kms_course.envelope.encrypt does it for you)."
)


def _kms_hint(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    message = response.get("Error", {}).get("Message", "")
    operation = getattr(error, "operation_name", "")
    if code == "InvalidCiphertextException" and operation in ("Decrypt", "ReEncrypt"):
        return _INVALID_CIPHERTEXT
    too_long = "less than or equal to 4096" in message
    if code == "ValidationException" and operation == "Encrypt" and too_long:
        return _TOO_LONG
    return None


def hint_for(error: BaseException) -> str | None:
    """The hint (str) for ``error``, or None when there is none.

    Hints exist for moto 4's per-service mocks (case C11), Decrypt's message-less
    InvalidCiphertextException (cases C01, C02, C04, C32) and Encrypt's 4096-byte limit (C06).
    """
    if not isinstance(error, ImportError):
        return _kms_hint(error)
    match = _OLD_MOTO_IMPORT.search(str(error))
    if match:
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

    from botocore.exceptions import ClientError

    shell.set_custom_exc((ImportError, ClientError), show)
    return True
