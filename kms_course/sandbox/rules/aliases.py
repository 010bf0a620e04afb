"""Aliases: the reserved ``alias/aws/`` prefix, the predefined aliases ListAliases shows, and no
alias on a key pending deletion
(https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html).
"""

from __future__ import annotations

from kms_course.sandbox.rules.registry import after, before, KmsError
from kms_course.sandbox.rules.common import find_key

@before("CreateAlias")
def reserved_alias_prefix(ctx, params: dict) -> None:
    """An alias name cannot begin with ``alias/aws/``: the prefix is reserved for AWS managed
    keys. AWS documents the rule but not the error code; the CreateAlias API reference's error for
    an alias name that is not valid is InvalidAliasNameException, so that is what is raised.

    https://docs.aws.amazon.com/kms/latest/developerguide/alias-create.html
    https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html
    """
    name = params.get("AliasName") or ""
    if name.startswith("alias/aws/"):
        raise KmsError(
            "InvalidAliasNameException",
            f"Alias {name} is not valid: the alias/aws/ prefix is reserved for AWS managed keys.",
        )


@after("ListAliases")
def predefined_aliases_without_key(ctx, params: dict, body: dict) -> dict:
    """A predefined ``alias/aws/...`` alias whose AWS managed key does not exist yet is listed
    without TargetKeyId; once the key exists, TargetKeyId is that key's ID (moto lists made-up
    key IDs that DescribeKey never returns).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_ListAliases.html
    """
    for alias in body.get("Aliases", []):
        if alias["AliasName"].startswith("alias/aws/"):
            owner = next(
                (k for k in ctx.kms_backend.keys.values() if alias["AliasName"] in k.aliases),
                None,
            )
            if owner is None:
                alias.pop("TargetKeyId", None)
            else:
                alias["TargetKeyId"] = owner.id
    return body


@before("CreateAlias", "UpdateAlias")
def alias_target_not_pending(ctx, params: dict) -> None:
    """An alias cannot be pointed at a key that is pending deletion (KMSInvalidStateException).

    https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
    """
    key = find_key(ctx, params.get("TargetKeyId"))
    if key is not None and key.key_state == "PendingDeletion":
        raise KmsError("KMSInvalidStateException", f"{key.arn} is pending deletion.")
