"""The Condition element of IAM and key policies: operators, set qualifiers and IfExists.

A Condition block is ``{operator: {condition_key: value_or_values}}``. As AWS evaluates it
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html):

* every operator in the block, and every key under an operator, must match (AND); the values
  listed for one key are alternatives (OR);
* a key absent from the request fails a positive operator and passes a negated one
  (``StringNotEquals`` ...); with ``...IfExists`` an absent key passes;
* ``Null: {"key": "true"}`` matches when the key is absent, ``"false"`` when present;
* ``ForAllValues:`` matches when every value of a multivalued key (e.g.
  ``kms:EncryptionContextKeys``) matches one condition value, and also when the key is absent
  or empty; ``ForAnyValue:`` when at least one does (never when absent);
* condition key names are case-insensitive, string values case-sensitive except with the
  ``...IgnoreCase`` operators; ``StringLike`` takes ``*`` and ``?`` wildcards
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).

The request context is a dict from lower-case condition key name to a string (single-valued
key) or a list of strings (multivalued key).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

OPERATORS_DOC = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html"
)


def wildcard(pattern: str, *, ignore_case: bool = False) -> re.Pattern:
    """A regex for an IAM wildcard pattern: ``*`` any run of characters, ``?`` one character."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def test(value: str, wanted: str) -> bool:
        a, b = _number(value), _number(wanted)
        return a is not None and b is not None and compare(a, b)

    return test


#: Positive operator name -> test(request value, condition value). Negated forms below.
_TESTS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda v, c: v == c,
    "StringEqualsIgnoreCase": lambda v, c: v.lower() == c.lower(),
    "StringLike": lambda v, c: bool(wildcard(c).match(v)),
    "ArnEquals": lambda v, c: v == c,
    "ArnLike": lambda v, c: bool(wildcard(c).match(v)),
    "Bool": lambda v, c: v.lower() == c.lower(),
    "NumericEquals": _numeric(lambda a, b: a == b),
    "NumericLessThan": _numeric(lambda a, b: a < b),
    "NumericLessThanEquals": _numeric(lambda a, b: a <= b),
    "NumericGreaterThan": _numeric(lambda a, b: a > b),
    "NumericGreaterThanEquals": _numeric(lambda a, b: a >= b),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}
QUALIFIERS = ("ForAllValues:", "ForAnyValue:")
#: Condition keys whose request value is a list (multivalued context keys).
MULTIVALUED = frozenset({"kms:encryptioncontextkeys", "kms:grantoperations"})


def split_operator(operator: str) -> tuple[str | None, str, bool, bool] | None:
    """``(qualifier, positive base operator, negated, if_exists)`` for a condition operator such
    as ``"ForAnyValue:StringNotLikeIfExists"``, or None if AWS has no such operator."""
    qualifier = next((q for q in QUALIFIERS if operator.startswith(q)), None)
    name = operator[len(qualifier):] if qualifier else operator
    if name == "Null":
        return (qualifier, "Null", False, False)
    if_exists = name.endswith("IfExists")
    if if_exists:
        name = name[: -len("IfExists")]
    if name in _TESTS:
        return (qualifier, name, False, if_exists)
    if name in _NEGATED:
        return (qualifier, _NEGATED[name], True, if_exists)
    return None


def as_text(value: Any) -> str:
    """A condition value as AWS compares it: JSON true/false as ``"true"``/``"false"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def values_of(value: Any) -> list[str]:
    """The condition values of one key (a single value or a list), as text."""
    return [as_text(v) for v in (value if isinstance(value, list) else [value])]


def operator_matches(operator: str, key: str, wanted: Any, context: dict[str, Any]) -> bool:
    """Whether one ``operator: {key: wanted}`` entry matches the request ``context``.

    Raises:
        ValueError: ``operator`` is not an AWS condition operator (policies are validated
            before they are stored, so this means a programming error).
    """
    parts = split_operator(operator)
    if parts is None:
        raise ValueError(f"unknown condition operator {operator}")
    qualifier, base, negated, if_exists = parts
    wanted_values = values_of(wanted)
    name = key.lower()
    present = name in context and context[name] is not None
    if base == "Null":
        return any((v.lower() == "true") == (not present) for v in wanted_values)
    if not present:
        if if_exists or qualifier == "ForAllValues:":
            return True
        if qualifier == "ForAnyValue:":
            return False
        return negated
    value = context[name]
    request_values = [as_text(v) for v in value] if isinstance(value, list) else [as_text(value)]
    test = _TESTS[base]

    def one(v: str) -> bool:
        hit = any(test(v, c) for c in wanted_values)
        return not hit if negated else hit

    if qualifier == "ForAllValues:":
        return all(one(v) for v in request_values)
    return any(one(v) for v in request_values)


def block_matches(block: dict[str, dict[str, Any]] | None, context: dict[str, Any]) -> bool:
    """Whether a whole Condition block matches (every operator and every key: AND)."""
    if not block:
        return True
    return all(
        operator_matches(operator, key, wanted, context)
        for operator, keys in block.items()
        for key, wanted in keys.items()
    )
