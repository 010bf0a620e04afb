"""Small display helpers for lesson cells: print what a KMS response says, in a stable form.

Lesson cells print facts that do not change between runs (key state, key usage, sizes of
plaintext) and never key IDs, ARNs, dates or ciphertext bytes, so that a notebook gives the same
output every time it runs (and nbval can compare it). These helpers do that for the common cases.

Field meanings: KeyMetadata in the AWS KMS API reference,
https://docs.aws.amazon.com/kms/latest/APIReference/API_KeyMetadata.html, and DescribeKey,
https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: KeyMetadata fields whose value is the same on every run of a lesson.
STABLE_FIELDS: tuple[str, ...] = (
    "Description",
    "KeyUsage",
    "KeySpec",
    "KeyState",
    "Enabled",
    "Origin",
    "KeyManager",
    "MultiRegion",
)
#: KeyMetadata fields that differ on every run (or every account); shown as present, not printed.
VARYING_FIELDS: tuple[str, ...] = ("KeyId", "Arn", "AWSAccountId", "CreationDate", "DeletionDate")


def key_facts(metadata: Mapping[str, Any], fields: Iterable[str] = STABLE_FIELDS) -> dict[str, Any]:
    """The stable facts of a key: ``{field: value}`` for each of ``fields`` present in ``metadata``.

    Args:
        metadata: a ``KeyMetadata`` dict, e.g. ``kms.describe_key(KeyId=k)["KeyMetadata"]`` or
            ``kms.create_key(...)["KeyMetadata"]``.
        fields: field names to keep, in order (default :data:`STABLE_FIELDS`).

    Returns:
        A new dict with the requested fields that ``metadata`` has, in the order of ``fields``.

    Raises:
        TypeError: ``metadata`` is not a mapping (for example the whole response was passed
            where its ``"KeyMetadata"`` part was expected, or a key ID string).
    """
    if not isinstance(metadata, Mapping):
        raise TypeError(
            f"key_facts() takes a KeyMetadata dict, got {type(metadata).__name__}: pass "
            "response['KeyMetadata'] from create_key or describe_key."
        )
    if "KeyMetadata" in metadata and "KeyId" not in metadata:
        metadata = metadata["KeyMetadata"]
    return {name: metadata[name] for name in fields if name in metadata}


def show_key(metadata: Mapping[str, Any], fields: Iterable[str] = STABLE_FIELDS) -> None:
    """Print a key's stable facts as a two-column table, then which varying fields are present.

    Args:
        metadata: a ``KeyMetadata`` dict, or a whole create_key/describe_key response (its
            ``"KeyMetadata"`` part is used).
        fields: the stable fields to print (default :data:`STABLE_FIELDS`).

    Raises:
        TypeError: as :func:`key_facts`.

    Example output::

        Description  Sample KMS Key for Course
        KeyUsage     ENCRYPT_DECRYPT
        ...
        (also present, different on every run: KeyId, Arn, AWSAccountId, CreationDate)
    """
    facts = key_facts(metadata, fields)
    if "KeyMetadata" in metadata and "KeyId" not in metadata:
        metadata = metadata["KeyMetadata"]
    width = max((len(name) for name in facts), default=0)
    for name, value in facts.items():
        shown = "''" if value == "" else value
        print(f"{name:<{width}}  {shown}")
    varying = [name for name in VARYING_FIELDS if name in metadata]
    if varying:
        print(f"(also present, different on every run: {', '.join(varying)})")


def show_keys_by_manager(kms: Any) -> dict[str, int]:
    """List every key in the account and Region and print how many each ``KeyManager`` has.

    Args:
        kms: a boto3 KMS client.

    Returns:
        ``{"AWS": n, "CUSTOMER": m}``: the number of keys per KeyManager value (only values seen).

    Calls ListKeys (paginated) and DescribeKey per key:
    https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeys.html
    """
    counts: dict[str, int] = {}
    for page in kms.get_paginator("list_keys").paginate():
        for entry in page["Keys"]:
            manager = kms.describe_key(KeyId=entry["KeyId"])["KeyMetadata"]["KeyManager"]
            counts[manager] = counts.get(manager, 0) + 1
    for manager in sorted(counts):
        print(f"{manager:<8}  {counts[manager]} key(s)")
    return counts
