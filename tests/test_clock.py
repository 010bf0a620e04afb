"""The sandbox clock (kms_course.sandbox.clock): deletions complete, automatic rotations happen, and
every reported date follows the clock, on both sandbox backends.

Expected values come from the AWS pages named in each test:
ScheduleKeyDeletion (https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html),
Deleting keys (https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html),
Rotating keys (https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html),
ListKeyRotations (https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyRotations.html).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kms_course.sandbox import clock, course_api, rules, start as sandbox, server
from tests._time import box, code, time_server_url  # noqa: F401  (fixtures)

DAY = timedelta(days=1)


def close(a: datetime, b: datetime, seconds: float = 120) -> bool:
    return abs((a - b).total_seconds()) <= seconds


# --- deletion ---------------------------------------------------------------------------------


def test_key_is_deleted_at_its_deletion_date_and_then_never_found(box):
    """ScheduleKeyDeletion: after the waiting period KMS deletes the key, its key material and
    its aliases; the key can no longer be used, described or restored (NotFoundException)."""
    kms = box.kms
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/doomed", TargetKeyId=key["KeyId"])
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"kept?")["CiphertextBlob"]
    deletion = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)["DeletionDate"]

    box.advance(days=6, hours=23)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert box.now() < deletion

    box.advance(hours=2)
    assert box.now() > deletion
    for call in (
        lambda: kms.describe_key(KeyId=key["KeyId"]),
        lambda: kms.describe_key(KeyId="alias/doomed"),
        lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"),
        lambda: kms.decrypt(CiphertextBlob=blob, KeyId=key["KeyId"]),
        lambda: kms.cancel_key_deletion(KeyId=key["KeyId"]),
        lambda: kms.enable_key(KeyId=key["KeyId"]),
    ):
        assert code(call) == "NotFoundException"
    assert key["KeyId"] not in [k["KeyId"] for k in kms.list_keys()["Keys"]]
    assert "alias/doomed" not in [a["AliasName"] for a in kms.list_aliases()["Aliases"]]


def test_ciphertext_of_a_deleted_key_never_decrypts_even_without_key_id(box):
    """Deleting keys: data encrypted under a deleted key cannot be decrypted. Without KeyId the
    sandbox answers as for a ciphertext whose key is not in the account and Region."""
    kms = box.kms
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"gone")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=30)
    box.advance(days=31)
    assert code(lambda: kms.decrypt(CiphertextBlob=blob)) == "AccessDeniedException"
    # A new key never reads it either.
    other = kms.create_key()["KeyMetadata"]
    assert code(lambda: kms.decrypt(CiphertextBlob=blob, KeyId=other["KeyId"])) in (
        "NotFoundException", "IncorrectKeyException", "AccessDeniedException")


def test_cancelled_deletion_survives_its_old_deletion_date(box):
    """CancelKeyDeletion: a cancelled key is Disabled and is not deleted when time passes."""
    kms = box.kms
    key = kms.create_key()["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    box.advance(days=40)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"


def test_deletion_date_and_creation_date_follow_the_clock(box):
    """DeletionDate is now + PendingWindowInDays on the sandbox clock; CreationDate is sandbox
    time (KeyMetadata)."""
    kms = box.kms
    box.advance(days=100)
    later = datetime.now(timezone.utc) + 100 * DAY
    key = kms.create_key()["KeyMetadata"]
    assert close(key["CreationDate"], later)
    assert close(kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CreationDate"], later)
    answer = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=10)
    assert close(answer["DeletionDate"], later + 10 * DAY)
    described = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert close(described["DeletionDate"], later + 10 * DAY)


def test_grant_creation_date_follows_the_clock(box):
    """GrantListEntry CreationDate: the sandbox time the grant was made."""
    kms = box.kms
    box.advance(days=50)
    key = kms.create_key()["KeyMetadata"]
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal="arn:aws:iam::123456789012:root",
                     Operations=["Decrypt"])
    grant = kms.list_grants(KeyId=key["KeyId"])["Grants"][0]
    assert close(grant["CreationDate"], datetime.now(timezone.utc) + 50 * DAY)


# --- rotation ---------------------------------------------------------------------------------


def test_automatic_rotation_happens_at_next_rotation_date(box):
    """Rotating keys / ListKeyRotations: at NextRotationDate KMS rotates the key (RotationType
    AUTOMATIC, RotationDate = the rotation date), the next date is one period later, and
    ciphertext made before still decrypts."""
    kms = box.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    old = kms.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    due = kms.get_key_rotation_status(KeyId=key_id)["NextRotationDate"]

    box.advance(days=89)
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []

    box.advance(days=2)
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["AUTOMATIC"]
    assert close(rotations[0]["RotationDate"], due, 2)
    assert rotations[0]["KeyId"].endswith(key_id) and rotations[0]["KeyId"].startswith("arn:")
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert close(status["NextRotationDate"], due + 90 * DAY, 2)
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"

    box.advance(days=180)  # two more periods: two more rotations
    assert len(kms.list_key_rotations(KeyId=key_id)["Rotations"]) == 3


def test_disabled_key_is_not_rotated_and_rotates_when_enabled_again(box):
    """Rotating keys: a disabled key is not rotated; enabled again after its rotation date, it
    rotates at once."""
    kms = box.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    kms.disable_key(KeyId=key_id)
    box.advance(days=200)
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []
    kms.enable_key(KeyId=key_id)
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["AUTOMATIC"]
    assert close(rotations[0]["RotationDate"], box.now())
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert close(status["NextRotationDate"], box.now() + 90 * DAY)


def test_key_pending_deletion_is_not_rotated(box):
    """Rotating keys: KMS does not rotate a key while it is pending deletion."""
    kms = box.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    box.advance(days=85)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=30)
    box.advance(days=10)
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []


def test_on_demand_and_automatic_rotations_are_listed_together(box):
    """ListKeyRotations lists completed rotations of both types."""
    kms = box.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    kms.rotate_key_on_demand(KeyId=key_id)
    box.advance(days=91)
    types = sorted(r["RotationType"] for r in kms.list_key_rotations(KeyId=key_id)["Rotations"])
    assert types == ["AUTOMATIC", "ON_DEMAND"]


# --- the clock itself -------------------------------------------------------------------------


def test_advance_returns_the_new_time_and_adds_up(box):
    start = box.now()
    assert close(start, datetime.now(timezone.utc), 5)
    after = box.advance(days=1, hours=2, minutes=30)
    assert close(after, start + timedelta(days=1, hours=2, minutes=30), 5)
    assert close(box.now(), after, 5)


@pytest.mark.parametrize("bad", [-1, "3", None, True, float("inf")])
def test_advance_refuses_going_back_or_non_numbers(kms_session, bad):
    with pytest.raises(ValueError):
        clock.advance(days=bad)


def test_server_refuses_a_bad_advance(box):
    if box.endpoint_url is None:
        pytest.skip("the HTTP operation only")
    with pytest.raises(sandbox.SandboxError, match="ValidationException"):
        course_api.call(clock.OPERATION, {"AdvanceSeconds": -5}, endpoint_url=box.endpoint_url)


def test_reset_puts_the_clock_back_to_real_time(box):
    box.advance(days=365)
    sandbox.reset()
    assert close(box.now(), datetime.now(timezone.utc), 5)


def test_aws_backend_has_no_clock(monkeypatch, kms_session):
    """On AWS real time cannot be moved: the error names the deletion and rotation pages."""
    monkeypatch.setattr(sandbox, "active_backend", lambda: "aws")
    with pytest.raises(sandbox.SandboxError, match="deleting-keys.html"):
        clock.advance(days=1)
    with pytest.raises(sandbox.SandboxError, match="real time"):
        clock.now()


def test_plain_moto_has_no_clock(box):
    """With the course rules off (the fidelity table's moto column) nothing falls due."""
    kms = box.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    rules.ENABLED = False
    try:
        box.advance(days=8)
        state = kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
    finally:
        rules.ENABLED = True
    assert state == "PendingDeletion"


def test_clock_is_saved_with_the_server_state(tmp_path, kms_session):
    """The offset lives in the KMS backends the course server pickles: a restored state keeps the
    clock (and a key pending deletion is deleted once the restored clock passes its date)."""
    sandbox.reset()
    kms = sandbox.kms_client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    clock.advance(days=5)
    store = server.StateStore(tmp_path / "server-state.pickle")
    assert store.save_if_changed()
    sandbox.reset()
    assert clock.offset() == 0
    store.load()
    assert abs(clock.offset() - 5 * 86400) < 1
    clock.advance(days=3)
    assert code(lambda: kms.describe_key(KeyId=key_id)) == "NotFoundException"
    sandbox.reset()


def test_grading_server_lets_a_kernel_use_the_clock_but_not_moto_api(kms_session):
    """The grader's guarded server refuses moto's control API to the kernel; the clock is a KMS
    request (X-Amz-Target), not a moto-api path, so a graded exercise can use it."""
    import urllib.error
    import urllib.request

    from kms_course.instructor.grading.sandbox import GradingServer

    grading = GradingServer().start()
    try:
        sandbox.reset()
        answer = course_api.call(clock.OPERATION, {"AdvanceSeconds": 86400},
                                 endpoint_url=grading.url)
        assert abs(answer["Offset"] - 86400) < 1
        request = urllib.request.Request(f"{grading.url}/moto-api/seed?a=42", method="POST", data=b"")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 403
    finally:
        grading.close()
        sandbox.reset()


# --- the key explorer's clock control ---------------------------------------------------------


def test_explorer_advance_button_completes_a_deletion(kms_session):
    """ScheduleKeyDeletion: once the waiting period has passed the key is gone from the list."""
    from kms_course.lessons.widgets.key_explorer import KeyExplorer

    sandbox.reset()
    kms = sandbox.kms_client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    explorer = KeyExplorer(kms)
    explorer.window_days.value = 7
    explorer.schedule_button.click()
    explorer.advance_days.value = 6
    explorer.advance_button.click()
    assert [r.key_state for r in explorer.rows] == ["PendingDeletion"]
    assert explorer.status_text.startswith("Sandbox clock advanced 6 days; it is now ")
    explorer.advance_days.value = 2
    explorer.advance_button.click()
    assert explorer.rows == []
    assert explorer.status_text.endswith("UTC; 1 key deleted.")
    assert code(lambda: kms.describe_key(KeyId=key_id)) == "NotFoundException"
    assert (explorer.advance_days.min, explorer.advance_days.max) == (1, 3650)
    sandbox.reset()


def test_explorer_clock_refusal_is_shown_not_raised(monkeypatch, kms_session):
    from kms_course.lessons.widgets.key_explorer import KeyExplorer

    explorer = KeyExplorer(sandbox.kms_client())
    monkeypatch.setattr(sandbox, "active_backend", lambda: "aws")
    explorer.advance_clock(3)
    assert explorer.status_text.startswith("Could not advance the clock: SandboxError: The aws backend")


# --- lesson 07's exercise on the clock (kms_course.lessons.checks.l07_deletion)
# -------------------------


def _verdict(kms, **answers):
    from kms_course.lessons.exercises import run_check

    return run_check("07-deletion-completes", kms, answers)


def _lost(kms, advance_days: float):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"lost forever")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    clock.advance(days=advance_days)
    return key_id, blob


def test_07_deletion_completes_passes_after_the_waiting_period(kms):
    """ScheduleKeyDeletion / ct-delete-key: past DeletionDate the key is gone (DeleteKey in the
    trail) and Decrypt naming it fails with NotFoundException."""
    key_id, blob = _lost(kms, 8)
    with pytest.raises(kms.exceptions.NotFoundException) as refused:
        kms.decrypt(CiphertextBlob=blob, KeyId=key_id)
    result = _verdict(kms, lost_key_id=key_id, lost_ciphertext=blob,
                      lost_error_code=refused.value.response["Error"]["Code"])
    assert result.passed and result.points == 3, result.message


def test_07_deletion_completes_fails_on_a_typed_in_error_code(kms):
    """Bug: 'NotFoundException' typed in, without the Decrypt that KMS refused, passed (issue 11
    item 5); and the check's own Decrypt must not count as the student's on a second check."""
    key_id, blob = _lost(kms, 8)
    for _ in range(2):
        result = _verdict(kms, lost_key_id=key_id, lost_ciphertext=blob,
                          lost_error_code="NotFoundException")
        assert not result.passed and "no Decrypt naming `lost_key_id` refused with " \
            "NotFoundException" in result.message, result.message


def test_07_deletion_completes_fails_before_the_deletion_date(kms):
    key_id, blob = _lost(kms, 6)
    result = _verdict(kms, lost_key_id=key_id, lost_ciphertext=blob,
                      lost_error_code="KMSInvalidStateException")
    assert not result.passed and "still exists (key state PendingDeletion)" in result.message


def test_07_deletion_completes_fails_for_a_made_up_key_or_wrong_code(kms):
    result = _verdict(kms, lost_key_id="1234abcd-12ab-34cd-56ef-1234567890ab",
                      lost_ciphertext=b"x" * 80, lost_error_code="NotFoundException")
    assert not result.passed and "no deletion of `lost_key_id`" in result.message
    key_id, blob = _lost(kms, 8)
    result = _verdict(kms, lost_key_id=key_id, lost_ciphertext=blob,
                      lost_error_code="AccessDeniedException")
    assert not result.passed and "NotFoundException" in result.message


def test_07_schedule_deletion_check_reads_the_sandbox_clock(kms):
    """The 7-day window is measured from sandbox time, so it passes after the clock moved."""
    from kms_course.lessons.exercises import run_check

    clock.advance(days=40)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    result = run_check("07-schedule-deletion", kms,
                       {"doomed_key_id": key_id, "doomed_window_days": 7})
    assert result.passed, result.message
