"""Checks of lesson 03, "Creating and describing keys".

Each check reads the key the student named and asks KMS (DescribeKey, ListAliases) whether the
key really exists with the required properties, so assigning a made-up string never passes.

Sources: CreateKey https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html,
DescribeKey https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html,
ListAliases https://docs.aws.amazon.com/kms/latest/APIReference/API_ListAliases.html.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from kms_course.exercises import Answers, CheckFailed, exercise

LESSON = "03_creating_and_describing_keys"

#: CreateKey's documented default KeyUsage: a key created without one is ENCRYPT_DECRYPT
#: (https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html, KeyUsage).
DEFAULT_KEY_USAGE = "ENCRYPT_DECRYPT"


def key_id_answer(answers: Answers, name: str) -> str:
    """The student's variable ``name``, which must hold a key ID (or key ARN) as a ``str``.

    Returns:
        The string.

    Raises:
        CheckFailed: the variable is missing, or holds something other than a str (with what to
            store instead, e.g. when the whole create_key response was stored).
    """
    value = answers.get(name)
    if isinstance(value, dict) and "KeyMetadata" in value:
        raise CheckFailed(
            f"`{name}` holds the whole create_key response; store only its key ID: "
            f"{name} = response['KeyMetadata']['KeyId']."
        )
    if not isinstance(value, str) or not value:
        raise CheckFailed(
            f"`{name}` should be a key ID (a str such as '1234abcd-12ab-34cd-56ef-1234567890ab'), "
            f"but it is {type(value).__name__} {value!r}."
        )
    return value


def describe_answer_key(kms: Any, answers: Answers, name: str) -> dict[str, Any]:
    """DescribeKey for the key ID the student stored in variable ``name``.

    Args:
        kms: a boto3 KMS client on the sandbox.
        answers: the student's answers.
        name: the variable that should hold a key ID or key ARN.

    Returns:
        The key's ``KeyMetadata`` dict.

    Raises:
        CheckFailed: the variable is missing or not a str, or no such key exists in the sandbox.
    """
    key_id = key_id_answer(answers, name)
    try:
        return kms.describe_key(KeyId=key_id)["KeyMetadata"]
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NotFoundException", "InvalidArnException"):
            raise CheckFailed(
                f"`{name}` is {key_id!r}, but no KMS key with that ID exists in the sandbox. "
                "Store the KeyId from the create_key response: response['KeyMetadata']['KeyId']."
            ) from None
        raise


def require_field(metadata: dict[str, Any], field: str, expected: Any, name: str) -> None:
    """Raise CheckFailed unless ``metadata[field] == expected`` (KeyUsage defaults as AWS does).

    Raises:
        CheckFailed: the field differs, naming the variable, the field, and both values.
    """
    actual = metadata.get(field)
    if field == "KeyUsage" and actual is None:
        actual = DEFAULT_KEY_USAGE
    if actual != expected:
        raise CheckFailed(
            f"The key in `{name}` has {field} {actual!r}; the exercise asks for {expected!r}. "
            f"Create a new key with {field}={expected!r}."
        )


@exercise(
    "03-hmac-key",
    lesson=LESSON,
    points=2,
    hint="kms.create_key(KeyUsage='GENERATE_VERIFY_MAC', KeySpec='HMAC_256'), then take "
    "['KeyMetadata']['KeyId'] from the response.",
    answers=("hmac_key_id",),
)
def _hmac_key(kms: Any, answers: Answers) -> None:
    metadata = describe_answer_key(kms, answers, "hmac_key_id")
    require_field(metadata, "KeySpec", "HMAC_256", "hmac_key_id")
    require_field(metadata, "KeyUsage", "GENERATE_VERIFY_MAC", "hmac_key_id")
    require_field(metadata, "KeyState", "Enabled", "hmac_key_id")


SIGNING_DESCRIPTION = "Invoice signing key"


@exercise(
    "03-signing-key",
    lesson=LESSON,
    points=2,
    hint="An RSA signing key needs both KeyUsage='SIGN_VERIFY' and KeySpec='RSA_2048'; pass "
    f"Description='{SIGNING_DESCRIPTION}' exactly.",
    answers=("signing_key_id",),
)
def _signing_key(kms: Any, answers: Answers) -> None:
    metadata = describe_answer_key(kms, answers, "signing_key_id")
    require_field(metadata, "KeySpec", "RSA_2048", "signing_key_id")
    require_field(metadata, "KeyUsage", "SIGN_VERIFY", "signing_key_id")
    require_field(metadata, "Description", SIGNING_DESCRIPTION, "signing_key_id")


ORDERS_ALIAS = "alias/lesson03-orders"


@exercise(
    "03-alias-state",
    lesson=LESSON,
    points=3,
    hint=f"create_key(KeyUsage='ENCRYPT_DECRYPT'), then create_alias(AliasName='{ORDERS_ALIAS}', "
    f"TargetKeyId=...), then describe_key(KeyId='{ORDERS_ALIAS}')['KeyMetadata']['KeyState'].",
    answers=("orders_key_id", "orders_key_state"),
)
def _alias_state(kms: Any, answers: Answers) -> None:
    metadata = describe_answer_key(kms, answers, "orders_key_id")
    require_field(metadata, "KeySpec", "SYMMETRIC_DEFAULT", "orders_key_id")
    require_field(metadata, "KeyUsage", "ENCRYPT_DECRYPT", "orders_key_id")
    aliases = kms.list_aliases(KeyId=metadata["KeyId"])["Aliases"]
    if ORDERS_ALIAS not in {alias["AliasName"] for alias in aliases}:
        raise CheckFailed(
            f"The key in `orders_key_id` has no alias {ORDERS_ALIAS!r}: call "
            f"kms.create_alias(AliasName='{ORDERS_ALIAS}', TargetKeyId=orders_key_id)."
        )
    state = answers.get("orders_key_state")
    actual = kms.describe_key(KeyId=ORDERS_ALIAS)["KeyMetadata"]["KeyState"]
    if state != actual:
        raise CheckFailed(
            f"`orders_key_state` is {state!r}, but describe_key(KeyId='{ORDERS_ALIAS}') reports "
            f"KeyState {actual!r}: store the KeyState field of the KeyMetadata."
        )
