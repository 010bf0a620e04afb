"""Who may use a key: principals, key policies, IAM policies and grants, enforced in the sandbox.

* :mod:`kms_course.access.principals`: the caller of a request (IAM user, role session or the
  account's root user) and :func:`client_as`, a boto3 client acting as a principal;
* :mod:`kms_course.access.policy` and :mod:`kms_course.access.conditions`: policy documents,
  validated and evaluated as AWS does;
* :mod:`kms_course.access.authorize`: the decision for every KMS request (key policy, IAM
  policies, grants; explicit deny wins) and AccessDeniedException in AWS's words;
* :mod:`kms_course.access.key_policies`: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies, the
  default key policy and the lock-out safety check;
* :mod:`kms_course.access.grants`: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant,
  RevokeGrant.

Importing this package registers its rules with :mod:`kms_course.rules` (``rules.install()``
does it). Source: https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html.
"""

from kms_course.access import authorize, grants, key_policies  # noqa: F401  (register rules)
from kms_course.access.principals import Principal, PrincipalError, client_as

__all__ = ["Principal", "PrincipalError", "client_as"]
