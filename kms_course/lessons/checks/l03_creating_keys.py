"""Checks of lesson 03, "Creating and describing keys".

Each check reads the key the student named and asks KMS (DescribeKey, ListAliases) whether the
key really exists with the required properties, so assigning a made-up string never passes.

Sources: CreateKey https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html,
DescribeKey https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html,
ListAliases https://docs.aws.amazon.com/kms/latest/APIReference/API_ListAliases.html.
"""

from __future__ import annotations

from typing import Any

from kms_course.lessons.checks._common import describe_answer_key, require_field
from kms_course.lessons.exercises import Answers, CheckFailed, exercise

LESSON = "03_creating_and_describing_keys"


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
