"""On real AWS the course changes only the KMS keys it created.

With the ``aws`` backend every ``CreateKey`` sent by a course kernel carries the tag
``kms-course=created-by-course`` (:data:`kms_course.sandbox.start.COURSE_TAG_KEY`). This module
makes the other half of that promise: every KMS client of the ``aws`` backend refuses, before
anything is sent, a request that would change the key policy, the grants, the tags, the state or the
rotation of a key **without** that tag, with :class:`NotACourseKey` (one line: which call, which
key, what to do). So neither a lesson cell, nor a check, nor a helper such as
:meth:`kms_course.envelope.docstore.DocumentStore.share` can change a policy or a grant of a key the course
did not create, even when a student types the ID of one of their own production keys.

How a key is recognised: ``DescribeKey`` (which accepts a key ID, key ARN or alias) gives its key
ARN, then ``ListResourceTags`` its tags
(https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html,
https://docs.aws.amazon.com/kms/latest/APIReference/API_ListResourceTags.html). Both are read-only
and need ``kms:DescribeKey`` and ``kms:ListResourceTags``; if either is refused the change is
refused too (never sent on a guess). A key confirmed as the course's is remembered for the rest of
the process. ``RetireGrant`` with only a ``GrantToken`` names no key and is let through: the token
comes from a ``CreateGrant``, which this guard already limited to course keys.

The sandbox backends (``moto``, ``moto-server``) never contact AWS and have no guard.
:func:`note` prints the one-line warning lesson cells show before they change a policy or a grant
on real AWS.

Sources: Tagging keys (https://docs.aws.amazon.com/kms/latest/developerguide/tagging-keys.html);
key policies (https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html); grants
(https://docs.aws.amazon.com/kms/latest/developerguide/grants.html); botocore's
``before-parameter-build`` event
(https://boto3.amazonaws.com/v1/documentation/api/latest/guide/events.html).
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError

from kms_course.sandbox.start import COURSE_TAG_KEY, COURSE_TAG_VALUE, SandboxError

__all__ = ["GUARDED_OPERATIONS", "NotACourseKey", "install", "note", "require_course_key"]

#: The KMS operations the guard limits to course keys: they change who may use a key (key policy,
#: grants) or what the key is (tags, state, rotation, key material). ``KeyId`` names the key.
GUARDED_OPERATIONS = (
    "PutKeyPolicy", "CreateGrant", "RevokeGrant", "RetireGrant", "TagResource", "UntagResource",
    "EnableKey", "DisableKey", "ScheduleKeyDeletion", "CancelKeyDeletion", "UpdateKeyDescription",
    "EnableKeyRotation", "DisableKeyRotation", "RotateKeyOnDemand", "ImportKeyMaterial",
    "DeleteImportedKeyMaterial", "ReplicateKey", "UpdatePrimaryRegion",
)

_CONFIRMED: set[str] = set()
_LOCK = threading.Lock()


class NotACourseKey(SandboxError):
    """On real AWS, a request that would change a KMS key the course did not create."""


def _is_course_key(tags: list[dict]) -> bool:
    return any(t.get("TagKey") == COURSE_TAG_KEY and t.get("TagValue") == COURSE_TAG_VALUE
               for t in tags)


def require_course_key(kms: Any, key_id: str, operation: str = "this change") -> str:
    """Return the key ARN of ``key_id`` if it carries the course's tag; refuse otherwise.

    Args:
        kms: a boto3 KMS client (real AWS).
        key_id: key ID, key ARN, alias name or alias ARN.
        operation: the refused operation's name, for the message.

    Returns:
        The key ARN (str).

    Raises:
        NotACourseKey: the key has no ``kms-course=created-by-course`` tag, or KMS refused to
            describe it or list its tags (the message names the error code).
    """
    if not isinstance(key_id, str) or not key_id:
        raise NotACourseKey(f"Refused {operation}: give the key ID or key ARN of a key this "
                            f"course created (got {key_id!r}).")
    try:
        arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
        with _LOCK:
            if arn in _CONFIRMED:
                return arn
        tags: list[dict] = []
        for page in kms.get_paginator("list_resource_tags").paginate(KeyId=arn):
            tags.extend(page.get("Tags", []))
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "an error")
        raise NotACourseKey(
            f"Refused {operation} on {key_id}: on real AWS the course changes only keys it "
            f"created, and it could not read this key's tags ({code}); nothing was sent."
        ) from None
    if not _is_course_key(tags):
        raise NotACourseKey(
            f"Refused {operation} on {arn}: on real AWS the course changes only keys it created "
            f"(tag {COURSE_TAG_KEY}={COURSE_TAG_VALUE}), and this key lacks it; use a key made "
            "with kms.create_key() in this course."
        )
    with _LOCK:
        _CONFIRMED.add(arn)
    return arn


def _guard(client: Any, operation: str):
    def before_parameter_build(params: dict, **_: Any) -> None:
        __tracebackhide__ = True
        key_id = params.get("KeyId")
        if operation == "RetireGrant" and key_id is None:
            return  # by grant token: see the module docstring
        require_course_key(client, key_id, operation)

    return before_parameter_build


def install(client: Any) -> None:
    """Register the guard on a new ``aws``-backend KMS client (called by the sandbox)."""
    for operation in GUARDED_OPERATIONS:
        client.meta.events.register(f"before-parameter-build.kms.{operation}",
                                    _guard(client, operation))


def note(what: str) -> None:
    """Print ``On real AWS: <what>`` when the backend is ``aws``; nothing in the sandbox.

    Args:
        what: what the cell changes, e.g. ``"this cell gives grants on the practice key"``.
    """
    from kms_course.sandbox import start as sandbox

    if sandbox.active_backend() == "aws":
        print(f"On real AWS: {what} (only keys this course created; refused on any other key).")
