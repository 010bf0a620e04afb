"""Short errors and one-line hints for the mistakes lessons provoke, in lesson kernels.

Installed in every kernel of ``kms-course lab`` (its IPython startup config,
:mod:`kms_course.jupyter_config`) and by the lesson's setup cell
(:func:`kms_course.sandbox.start.start_sandbox`) when it runs inside IPython; elsewhere it does
nothing.

It uses IPython's own mechanism for this, ``InteractiveShell.set_custom_exc``
(https://ipython.readthedocs.io/en/stable/api/generated/IPython.core.interactiveshell.html): a KMS
or S3 ``ClientError``, and the few other errors a hint exists for, are shown as a short error: the
error's code and message, the line of the cell that raised it, the course's hint, and how to see
the full traceback (``%tb``, which prints the last traceback in full:
https://ipython.readthedocs.io/en/stable/interactive/magics.html#magic-tb). The cell still fails
(nbval and grading see an error), and the error output keeps the exception's name and value.
Every other error is shown by IPython as usual.
"""

from __future__ import annotations

import re
import sys
import traceback
from pathlib import Path
from typing import Any

#: moto 5 replaced the per-service decorators (``mock_kms``, ``mock_s3``, ...) by one ``mock_aws``
#: (https://docs.getmoto.org/en/latest/docs/getting_started.html); tutorials for moto 4 still use them.
_OLD_MOTO_IMPORT = re.compile(r"cannot import name '(mock_[a-z0-9_]+)' from 'moto'")

#: The last line of every short error: the full traceback is one call away.
FULL_TRACEBACK = "(Full traceback: run %tb in a new cell.)"

#: Decrypt's InvalidCiphertextException carries no message, and KMS cannot tell its causes apart
#: (https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html#API_Decrypt_Errors).
_INVALID_CIPHERTEXT = (
    "Hint: KMS cannot tell a changed ciphertext from a different encryption context. Check that "
    "(1) EncryptionContext is exactly the pairs used to encrypt (case-sensitive; order does not "
    "matter); (2) CiphertextBlob is the raw bytes, not base64 text (base64.b64decode() it first); "
    "(3) it is a KMS ciphertext, not an AWS Encryption SDK message (use aws_encryption_sdk or "
    "kms_course.envelope.decrypt_file) or a course envelope (kms_course.envelope.decrypt)."
)
#: Encrypt takes 1 to 4096 bytes of plaintext with a symmetric key
#: (https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html#API_Encrypt_RequestSyntax).
_TOO_LONG = (
    "Hint: Encrypt takes at most 4096 bytes of plaintext, counted in bytes, not characters "
    "(len(text.encode('utf-8'))). For more, use envelope encryption: a data key from "
    "GenerateDataKey encrypts the data (kms_course.envelope.encrypt does it for you)."
)
#: A KeyId is a key ID, a key ARN, an alias name (``alias/...``) or an alias ARN; DescribeKey,
#: GetPublicKey and the cryptographic operations take all four
#: (https://docs.aws.amazon.com/kms/latest/developerguide/alias-using.html).
_ALIAS_WITHOUT_PREFIX = (
    "Hint: {value!r} is not a key ID, and an alias name always starts with 'alias/': write "
    "KeyId='alias/{value}'. Only DescribeKey, GetPublicKey and the cryptographic operations "
    "(Encrypt, Decrypt, GenerateDataKey, ...) accept an alias; the others need the key ID or key "
    "ARN."
)
#: A key ID that names no key of this account and Region (NotFoundException).
_NO_SUCH_KEY = (
    "Hint: no KMS key has this key ID in this account and Region. Use the ID your code got back "
    "(create_key(...)['KeyMetadata']['KeyId'], or list_keys()); the example IDs of the AWS "
    "documentation exist in no account. After a kernel restart the moto sandbox starts empty: "
    "re-run the cells that create the keys."
)
_NO_SUCH_ALIAS = (
    "Hint: no alias of that name exists in this account and Region: list_aliases() shows them; "
    "create it with create_alias(AliasName='alias/...', TargetKeyId=key_id) first. After a "
    "kernel restart the moto sandbox starts empty: re-run the cells that create it."
)
#: CreateAlias: the name starts with alias/ and alias/aws/ is reserved
#: (https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html#API_CreateAlias_RequestSyntax).
_BAD_ALIAS_NAME = (
    "Hint: an alias name starts with 'alias/' followed by letters, digits, '/', '_' or '-' (for "
    "example 'alias/orders'), and 'alias/aws/' is reserved for AWS managed keys."
)
#: A disabled key refuses cryptographic operations
#: (https://docs.aws.amazon.com/kms/latest/developerguide/enabling-keys.html).
_DISABLED = "Hint: the key is disabled; kms.enable_key(KeyId=...) switches it back on."
#: Key states and the operations each allows
#: (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html).
_INVALID_STATE = (
    "Hint: the key's state does not allow this operation; look at "
    "kms.describe_key(KeyId=...)['KeyMetadata']['KeyState'] (PendingDeletion: cancel_key_deletion "
    "first, which leaves the key Disabled; PendingImport: it has no key material yet)."
)
#: Verify and VerifyMac raise instead of answering False
#: (https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html, API_VerifyMac.html).
_BAD_SIGNATURE = (
    "Hint: Verify never answers SignatureValid False: a signature that does not match raises "
    "KMSInvalidSignatureException. Catch kms.exceptions.KMSInvalidSignatureException. If the "
    "signature should be good, check that KeyId, SigningAlgorithm and the message are those used "
    "to sign, and MessageType: a digest signed as DIGEST is verified as DIGEST (or the message "
    "itself as RAW)."
)
_BAD_MAC = (
    "Hint: VerifyMac never answers MacValid False: a MAC that does not match raises "
    "KMSInvalidMacException. Catch kms.exceptions.KMSInvalidMacException. If the MAC should be "
    "good, check KeyId, MacAlgorithm and that the message is byte for byte the one you MACed."
)
#: Sign and Verify take a RAW message of at most 4096 bytes, or its digest
#: (https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html).
_SIGN_TOO_LONG = (
    "Hint: a RAW message to sign is at most 4096 bytes. Hash a longer message yourself "
    "(hashlib.sha256(message).digest() for a ..._SHA_256 algorithm) and send the digest with "
    "MessageType='DIGEST', so KMS does not hash it again."
)
#: S3 user-defined metadata values are text (sent as HTTP headers)
#: (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html#UserMetadata).
_S3_METADATA_BYTES = (
    "Hint: S3 object metadata values must be text (str, ASCII), not bytes. Store bytes such as an "
    "encrypted data key as base64 text: base64.b64encode(value).decode('ascii'), and "
    "base64.b64decode() them when you read them back."
)
#: Names the lessons define in their first code cell (the setup cell).
SETUP_NAMES = frozenset({"check", "kms", "start_sandbox", "reset", "boto3", "s3", "SandboxError"})

_KEY_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^mrk-", re.I)


def _kms_hint(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    message = str(response.get("Error", {}).get("Message", ""))
    operation = getattr(error, "operation_name", "")
    if code == "InvalidCiphertextException" and operation in ("Decrypt", "ReEncrypt"):
        return _INVALID_CIPHERTEXT
    if code == "ValidationException" and operation == "Encrypt" and "4096" in message:
        return _TOO_LONG
    if code == "NotFoundException":
        invalid = re.search(r"Invalid keyId '?([^'\s]+)'?", message)
        if invalid and "/" not in invalid.group(1) and ":" not in invalid.group(1):
            if not _KEY_ID.match(invalid.group(1)):
                return _ALIAS_WITHOUT_PREFIX.format(value=invalid.group(1))
        if re.search(r"\balias\b", message, re.I):
            return _NO_SUCH_ALIAS
        if "does not exist" in message or "not found" in message.lower():
            return _NO_SUCH_KEY
    if code == "ValidationException" and operation in ("CreateAlias", "UpdateAlias", "DeleteAlias"):
        return _BAD_ALIAS_NAME
    if code == "KMSInvalidSignatureException":
        return _BAD_SIGNATURE
    if code == "KMSInvalidMacException":
        return _BAD_MAC
    if code == "ValidationException" and operation in ("Sign", "Verify") and "4096" in message:
        return _SIGN_TOO_LONG
    if code == "DisabledException":
        return _DISABLED
    if code == "KMSInvalidStateException":
        return _INVALID_STATE
    return None


def _from_s3_metadata_check(tb: Any) -> bool:
    """True when the traceback ends in botocore's ASCII check of S3 metadata."""
    frames = traceback.extract_tb(tb) if tb is not None else []
    return any(frame.name == "validate_ascii_metadata" for frame in frames)


def _restart_hint(error: NameError) -> str | None:
    name = getattr(error, "name", None)
    if name is None:
        match = re.search(r"name '([^']+)' is not defined", str(error))
        name = match.group(1) if match else None
    if name is None:
        return None
    try:
        from kms_course.sandbox import start as sandbox

        started = sandbox.active_backend() is not None
    except Exception:  # noqa: BLE001 (a hint never raises)
        started = False
    if not started:
        return (
            f"Hint: `{name}` is not defined because this kernel has not run the lesson's setup "
            "yet (a new or restarted kernel starts empty): run the first code cell "
            "(kms = start_sandbox()), then the cells above this one."
        )
    if name in SETUP_NAMES:
        return f"Hint: `{name}` comes from the lesson's first code cell: run it again."
    return (
        f"Hint: `{name}` is defined in an earlier cell that has not run in this kernel (after a "
        "restart nothing is defined): run the cells above this one (Run > Run All Above "
        "Selected Cell)."
    )


def hint_for(error: BaseException, tb: Any = None) -> str | None:
    """The hint (str, starting with ``Hint:``) for ``error``, or None when there is none.

    Args:
        error: the exception raised by a cell.
        tb: its traceback, if known (``error.__traceback__`` otherwise).

    Hints exist for moto 4's per-service mocks (case C11), Decrypt's message-less
    InvalidCiphertextException (cases C01, C02, C04, C32), Encrypt's 4096-byte limit (C06), alias
    names without ``alias/``, key IDs and aliases that name nothing, disabled keys and keys in the
    wrong state, bytes as S3 metadata values, and course names used before the setup cell ran.
    """
    if isinstance(error, ImportError):
        match = _OLD_MOTO_IMPORT.search(str(error))
        if match:
            return (
                f"Hint: moto 5 has no {match.group(1)}; one mock_aws replaced all the per-service "
                "mocks. In this course you need neither: the setup cell's start_sandbox() already "
                "runs every call against the offline sandbox."
            )
        return None
    if isinstance(error, NameError):
        return _restart_hint(error)
    if isinstance(error, AttributeError):
        if "'bytes' object has no attribute 'encode'" in str(error) and _from_s3_metadata_check(
            tb if tb is not None else error.__traceback__
        ):
            return _S3_METADATA_BYTES
        return None
    return _kms_hint(error)


#: How botocore words a ClientError (``botocore.exceptions.ClientError.MSG_TEMPLATE``), as a
#: grading kernel's error reply carries it: ``ename: evalue``.
_CLIENT_ERROR_TEXT = re.compile(
    r"An error occurred \((?P<code>[^)]*)\) when calling the (?P<operation>\w+) "
    r"operation(?: \(reached max retries: \d+\))?: (?P<message>.*)", re.S)


def hint_for_error_text(text: str) -> str | None:
    """The hint :func:`hint_for` gives a KMS error, from the error's text alone (str, or None).

    For the grader, which sees a solution cell's error only as its kernel's reply,
    ``"ename: evalue"`` (https://jupyter-client.readthedocs.io/en/stable/messaging.html#execution-errors),
    so its feedback hints what the lab hints. Only botocore's ClientError wording is read (any
    ``ename``: boto3 names modeled errors after their code); anything else gives None.
    """
    match = _CLIENT_ERROR_TEXT.search(text)
    if not match:
        return None
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": match["code"], "Message": match["message"]}},
                        match["operation"])
    return _kms_hint(error)


def _is_client_error(error: BaseException) -> bool:
    try:
        from botocore.exceptions import ClientError
    except ImportError:  # pragma: no cover (boto3 is a dependency)
        return False
    return isinstance(error, ClientError)


_PACKAGE = str(Path(__file__).resolve().parents[1])


def _cell_line(tb: Any) -> str | None:
    """``line N: <source>`` of the last traceback frame that is the student's cell, or None."""
    frames = traceback.extract_tb(tb) if tb is not None else []
    for frame in reversed(frames):
        name = frame.filename
        if "site-packages" in name or name.startswith(_PACKAGE) or name.startswith(sys.prefix):
            continue
        if frame.line:
            return f"line {frame.lineno}: {frame.line.strip()}"
        return f"line {frame.lineno}"
    return None


def short_error(error: BaseException, tb: Any = None) -> list[str] | None:
    """The lines of the short form of ``error``, or None when it is shown in full as usual.

    A ``ClientError`` always gets the short form; another error only when a hint exists. The lines
    are: ``<type>: <message>`` (shortened to 500 characters), the cell's line that raised it, the
    hint if any, and :data:`FULL_TRACEBACK`.
    """
    tb = tb if tb is not None else error.__traceback__
    hint = hint_for(error, tb)
    if hint is None and not _is_client_error(error):
        return None
    message = " ".join(str(error).split())
    if len(message) > 500:
        message = message[:497] + "..."
    lines = [f"{type(error).__name__}: {message}"]
    where = _cell_line(tb)
    if where:
        lines.append(f"  in this cell, {where}")
    if hint:
        lines.append(hint)
    lines.append(FULL_TRACEBACK)
    return lines


#: The exception types the short form may apply to (the handler falls back for the others).
def _handled_types() -> tuple[type, ...]:
    types: list[type] = [ImportError, NameError, AttributeError]
    try:
        from botocore.exceptions import ClientError

        types.append(ClientError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


_RED, _RESET = "\x1b[0;31m", "\x1b[0m"


def _show(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> None:
    """IPython custom exception handler: the short form, else IPython's usual traceback."""
    # %tb, %debug and xmode read these: keep them as IPython's own handler would.
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
    if sys.version_info >= (3, 12):
        sys.last_exc = value
    try:
        lines = short_error(value, tb)
    except Exception:  # noqa: BLE001 (a hint never hides the real error)
        lines = None
    if lines is None:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return
    stb = [_RED + lines[0] + _RESET] + lines[1:]
    shell._showtraceback(etype, value, stb)


def install() -> bool:
    """Show short errors and :func:`hint_for`'s hints in this IPython kernel.

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
    shell.set_custom_exc(_handled_types(), _show)
    return True
