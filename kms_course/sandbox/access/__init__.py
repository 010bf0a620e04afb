"""Who may use a key: principals, key policies, IAM policies and grants, enforced in the sandbox.

* :mod:`kms_course.sandbox.access.principals`: the caller of a request (IAM user, role session or
  the account's root user) and :func:`client_as`, a boto3 client acting as a principal;
* :mod:`kms_course.sandbox.access.policy` and :mod:`kms_course.sandbox.access.conditions`: policy
  documents, validated and evaluated as AWS does;
* :mod:`kms_course.sandbox.access.authorize`: the decision for every KMS request (key policy, IAM
  policies, grants; explicit deny wins) and AccessDeniedException in AWS's words;
* :mod:`kms_course.sandbox.access.key_policies`: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies, the
  default key policy and the lock-out safety check;
* :mod:`kms_course.sandbox.access.grants`: CreateGrant, ListGrants, ListRetirableGrants,
  RetireGrant, RevokeGrant.

Importing this package registers its rules with :mod:`kms_course.sandbox.rules` (``rules.install()``
does it). Source: https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html.
"""

from kms_course.sandbox.access import authorize, grants, key_policies  # noqa: F401  (register rules)
from kms_course.sandbox.access.principals import Principal, PrincipalError, client_as

__all__ = ["Principal", "PrincipalError", "client_as", "install"]


def install() -> None:
    """Hook the authorization into :mod:`kms_course.sandbox.rules` (called by ``rules.install()``).

    Adds :func:`kms_course.sandbox.access.authorize.authorize` to ``rules.CHECKS`` and turns off
    moto's own partial key-policy check (it denies DescribeKey for any Deny statement whose Action
    merely contains ``kms:*``, with an empty message), which the real authorization replaces.
    Both only while ``rules.ENABLED``: plain moto stays plain moto. Idempotent.
    """
    from moto.kms.responses import KmsResponse

    from kms_course.sandbox import rules

    if authorize.authorize not in rules.CHECKS:
        rules.CHECKS.append(authorize.authorize)
    original = KmsResponse._validate_key_policy
    if getattr(original, "_kms_course_original", None) is None:
        def _validate_key_policy(self, key_id: str, action: str) -> None:
            if not rules.ENABLED:
                original(self, key_id, action)

        _validate_key_policy._kms_course_original = original  # type: ignore[attr-defined]
        KmsResponse._validate_key_policy = _validate_key_policy
