"""Key policy calls: the policy name defaults to ``default``
(https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html).
"""

from __future__ import annotations

from kms_course.sandbox.rules.registry import before

@before("GetKeyPolicy", "PutKeyPolicy")
def policy_name_defaults_to_default(ctx, params: dict) -> None:
    """PolicyName is optional and defaults to ``default``, the only key policy name.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html
    https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html
    """
    params.setdefault("PolicyName", "default")
