"""The sandbox clock: time that a lesson can move forward, and what AWS KMS does when it passes.

On AWS, time passes: a key scheduled for deletion is deleted when its waiting period ends, and a
key with automatic rotation gets new key material every rotation period. In the offline sandbox a
lesson moves time itself::

    from kms_course.sandbox.clock import advance
    advance(days=8)            # a key scheduled with PendingWindowInDays=7 is now deleted

Sandbox time is the real UTC time plus an offset that only grows. Every date the sandbox reports
(CreationDate, DeletionDate, NextRotationDate, RotationDate, a grant's CreationDate, the trail's
eventTime) is taken on this clock. When sandbox time reaches

* a key's **DeletionDate**, KMS deletes the key, its key material and everything attached to it,
  aliases included; every later call naming the key answers NotFoundException, and nothing
  encrypted under it can be decrypted again
  (https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html,
  https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html). The trail records a
  ``DeleteKey`` service event (https://docs.aws.amazon.com/kms/latest/developerguide/ct-delete-key.html).
  (AWS may delete up to 24 hours after DeletionDate; the sandbox deletes exactly at it.)
* a key's **NextRotationDate** (automatic rotation on, key Enabled), KMS rotates it: a new
  ``AUTOMATIC`` entry in ListKeyRotations, the next date one rotation period later, and earlier
  ciphertext still decrypts. A key that is disabled or pending deletion is not rotated; when it is
  enabled again after its rotation date passed, it rotates at once
  (https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html,
  https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyRotations.html). The trail
  records a ``RotateKey`` service event (https://docs.aws.amazon.com/kms/latest/developerguide/ct-rotatekey.html).

Where the clock lives: its offset is an attribute of every moto ``KmsBackend`` (one per account
and Region), the objects the course's moto server pickles after each request, so the clock
survives a server restart with the keys it concerns; a backend created later takes the largest
offset of the others. Emptying the sandbox (``reset()``, ``kms-course server reset``, the grader
between submissions) recreates the backends, which puts the clock back to real time. Due events
are applied at the start of every KMS request and at once by :func:`advance`.

Both sandbox backends have the clock: in the ``moto-server`` backend (and the grader's server)
:func:`advance` and :func:`now` are the course operation ``KmsCourseClock``
(:mod:`kms_course.sandbox.course_api`). The ``aws`` backend has none: real time cannot be moved.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from kms_course.sandbox import course_api, rules

OFFSET_ATTRIBUTE = "_kms_course_clock_offset"
OPERATION = "KmsCourseClock"
ROTATE_KEYS_DOC = "https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html"
DELETING_KEYS_DOC = "https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html"
#: Most sandbox time one advance() may add: 100 years, in seconds.
MAX_STEP_SECONDS = 100 * 366 * 86400


# --- in the process that serves the sandbox ----------------------------------------------------


def backends() -> list:
    """Every moto ``KmsBackend`` that exists in this process (all accounts and Regions)."""
    from moto.kms.models import kms_backends

    found = []
    for _account, per_region in list(kms_backends.items()):
        for _region, backend in list(per_region.items()):
            found.append(backend)
    return found


def offset() -> float:
    """The sandbox clock's offset from real time, in seconds (0.0 until time is advanced)."""
    return max((getattr(b, OFFSET_ATTRIBUTE, 0.0) for b in backends()), default=0.0)


def local_now() -> datetime:
    """Sandbox time in this process, as a naive UTC datetime (moto's convention)."""
    return datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(seconds=offset())


def timestamp(moment: datetime) -> float:
    """A naive-UTC or aware datetime as seconds since the epoch (the form KMS JSON dates take)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def advance_here(seconds: float, backend=None) -> datetime:
    """Move sandbox time in this process forward by ``seconds`` and apply what fell due.

    Args:
        seconds: how far, >= 0.
        backend: a ``KmsBackend`` to keep the clock on when none exists yet.

    Returns:
        The new sandbox time (naive UTC).
    """
    every = backends() or ([backend] if backend is not None else [course_api.local_backend()])
    new = max((getattr(b, OFFSET_ATTRIBUTE, 0.0) for b in every), default=0.0) + seconds
    for each in every:
        setattr(each, OFFSET_ATTRIBUTE, new)
    settle_all()
    return local_now()


def _due(moment: Any, now: datetime) -> bool:
    return isinstance(moment, datetime) and moment <= now


def settle(backend) -> None:
    """Apply to ``backend`` every deletion and automatic rotation due by sandbox time (only while
    the course rules are on: plain moto has no clock)."""
    if not rules.ENABLED:
        return
    current = max(getattr(backend, OFFSET_ATTRIBUTE, 0.0), offset())
    setattr(backend, OFFSET_ATTRIBUTE, current)
    now = local_now()
    for key in list(backend.keys.values()):
        if key.key_state == "PendingDeletion" and _due(key.deletion_date, now):
            _delete(backend, key)
        elif key.key_state == "Enabled" and key.key_rotation_status:
            _rotate_while_due(backend, key, now)


def settle_all() -> None:
    """:func:`settle` every KMS backend of this process."""
    for backend in backends():
        settle(backend)


def _delete(backend, key) -> None:
    from kms_course.sandbox import trail

    when = key.deletion_date
    backend.delete_key(key.id)  # the key, its key material, aliases (held by the key), tags
    trail.service_event(backend, "DeleteKey", key.arn, when, response={"keyId": key.arn})


def _rotate_while_due(backend, key, now: datetime) -> None:
    period = getattr(key, "rotation_period_in_days", None) or rules.ROTATION_DAYS_DEFAULT
    due = getattr(key, "next_rotation_date", None)
    while _due(due, now):
        _rotate(backend, key, due)
        due = due + timedelta(days=period)
    key.next_rotation_date = due


def _rotate(backend, key, when: datetime) -> None:
    from kms_course.sandbox import trail

    key.rotations.append(
        {"KeyId": key.arn, "RotationDate": timestamp(when), "RotationType": "AUTOMATIC"}
    )
    trail.service_event(backend, "RotateKey", key.arn, when,
                        details={"rotationType": "AUTOMATIC", "keyOrigin": key.origin})


def before_request(ctx, operation: str) -> None:
    """Run first for every KMS request (``rules.PRELUDES``): settle the request's backend."""
    settle(ctx.kms_backend)


@rules.after("CreateKey")
def creation_date_on_the_clock(ctx, params: dict, body: dict) -> dict:
    """A new key's CreationDate is sandbox time.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_KeyMetadata.html
    """
    key = rules.find_key(ctx, body["KeyMetadata"]["KeyId"])
    if key is not None:
        key.creation_date = timestamp(local_now())
        body["KeyMetadata"]["CreationDate"] = key.creation_date
    return body


@rules.after("CreateGrant")
def grant_creation_date_on_the_clock(ctx, params: dict, body: dict) -> dict:
    """A new grant's CreationDate (ListGrants) is sandbox time.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantListEntry.html
    """
    key = rules.find_key(ctx, params.get("KeyId"))
    grant = key.grants.get(body.get("GrantId")) if key is not None else None
    if grant is not None and hasattr(grant, "creation_date"):
        grant.creation_date = timestamp(local_now())
    return body


@rules.after("EnableKey")
def rotate_on_enable_when_overdue(ctx, params: dict, body: dict) -> dict:
    """A key enabled again after its rotation date passed while it was disabled rotates at once;
    the next rotation is one period later.

    https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html
    """
    key = rules.find_key(ctx, params.get("KeyId"))
    now = local_now()
    if key is not None and key.key_rotation_status and _due(getattr(key, "next_rotation_date", None), now):
        period = getattr(key, "rotation_period_in_days", None) or rules.ROTATION_DAYS_DEFAULT
        _rotate(ctx.kms_backend, key, now)
        key.next_rotation_date = now + timedelta(days=period)
    return body


@course_api.operation(OPERATION)
def _clock_operation(backend, params: dict) -> dict:
    """``{"AdvanceSeconds": n}`` (optional) -> ``{"Now": seconds since the epoch, "Offset": s}``."""
    seconds = params.get("AdvanceSeconds", 0)
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not (
            0 <= seconds <= MAX_STEP_SECONDS):
        raise rules.KmsError("ValidationException",
                             f"AdvanceSeconds must be a number from 0 to {MAX_STEP_SECONDS}.")
    if seconds:
        advance_here(float(seconds), backend)
    else:
        settle(backend)
    return {"Now": timestamp(local_now()), "Offset": offset()}


def install() -> None:
    """Hook the clock into :mod:`kms_course.sandbox.rules` (called by ``rules.install()``;
    idempotent)."""
    if before_request not in rules.PRELUDES:
        rules.PRELUDES.append(before_request)


# --- what a lesson calls ----------------------------------------------------------------------


def advance(days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
    """Move sandbox time forward, then apply every deletion and automatic rotation now due.

    Args:
        days, hours, minutes: how far (numbers >= 0; they add up; at most 100 years).

    Returns:
        The new sandbox time (timezone-aware UTC datetime).

    Raises:
        ValueError: a negative, non-numeric or too large amount (time never goes back).
        kms_course.sandbox.start.SandboxError: the sandbox is not running, or the backend is ``aws``
            (time on AWS cannot be moved: deletions and rotations happen on their dates).

    Sources: https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html,
    https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html.
    """
    amounts = {"days": days, "hours": hours, "minutes": minutes}
    for name, value in amounts.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{name} must be a number >= 0 (sandbox time never goes back), "
                             f"not {value!r}")
    seconds = days * 86400 + hours * 3600 + minutes * 60
    if seconds > MAX_STEP_SECONDS:
        raise ValueError("advance() moves the clock by at most 100 years at a time.")
    answer = _call({"AdvanceSeconds": seconds})
    return datetime.fromtimestamp(answer["Now"], timezone.utc)


def now() -> datetime:
    """Sandbox time (timezone-aware UTC datetime): real time plus every :func:`advance` so far.

    Raises:
        kms_course.sandbox.start.SandboxError: the sandbox is not running, or the backend is
            ``aws``.
    """
    return datetime.fromtimestamp(_call({})["Now"], timezone.utc)


def _call(params: dict) -> dict:
    from kms_course.sandbox import start as sandbox

    if sandbox.active_backend() == "aws":
        raise sandbox.SandboxError(
            "The aws backend runs on real time: a key is deleted when its waiting period ends and "
            f"rotates on its NextRotationDate ({DELETING_KEYS_DOC}, {ROTATE_KEYS_DOC}). "
            "advance() works only in the offline sandbox."
        )
    return course_api.call(OPERATION, params)
