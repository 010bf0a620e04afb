"""The course widgets, driven through the widget API (``button.click()``), checked against KMS.

Every expected state comes from the AWS documentation:
DisableKey / EnableKey (https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKey.html,
https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKey.html), ScheduleKeyDeletion
(PendingWindowInDays 7-30, default 30;
https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html), CancelKeyDeletion
(the key is Disabled afterwards;
https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys-cancelling-key-deletion.html),
key states (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import nbformat
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kms_course.lessons import exercises
from kms_course.lessons.exercises import CheckFailed, ExerciseNotPassed, check
from kms_course.lessons.widgets.key_explorer import KeyExplorer
from kms_course.lessons.progress import ProgressPanel
from kms_course.lessons.widgets.stepper import EnvelopeStepper
from tests.conftest import NOTEBOOKS

# Things a stable text form must never contain: UUID key IDs, ARNs, dates, memory addresses.
UNSTABLE = [
    re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    re.compile(r"arn:aws"),
    re.compile(r"\d{4}-\d{2}-\d{2}"),
    re.compile(r"0x[0-9a-f]{6,}"),
    re.compile(r"model_id"),
]


def assert_stable(text: str) -> None:
    for pattern in UNSTABLE:
        assert not pattern.search(text), f"{pattern.pattern!r} found in:\n{text}"


def state(kms, key_id: str) -> str:
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]


def new_key(kms, alias: str | None = None) -> str:
    key_id = kms.create_key(Description="widget test")["KeyMetadata"]["KeyId"]
    if alias:
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    return key_id


# --- key explorer ---------------------------------------------------------------------------


def test_explorer_shows_alias_usage_spec_state_and_rotation(kms):
    key_id = new_key(kms, "alias/orders")
    kms.enable_key_rotation(KeyId=key_id)
    kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
    explorer = KeyExplorer(kms)
    cells = [row.stable_cells() for row in explorer.rows]
    # Rotation period defaults to 365 days (API_EnableKeyRotation); automatic rotation is only for
    # symmetric encryption keys (developerguide/rotate-keys.html).
    assert cells == [
        (
            "alias/orders",
            "ENCRYPT_DECRYPT",
            "SYMMETRIC_DEFAULT",
            "Enabled",
            "on (every 365 days)",
            "-",
        ),
        ("(no alias)", "SIGN_VERIFY", "ECC_NIST_P256", "Enabled", "not supported", "-"),
    ]
    assert explorer.key_picker.value == key_id


def test_disable_and_enable_buttons_change_the_key_state(kms, capsys):
    key_id = new_key(kms, "alias/a")
    explorer = KeyExplorer(kms)
    explorer.disable_button.click()
    assert state(kms, key_id) == "Disabled"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Enabled"] is False
    assert explorer.rows[0].key_state == "Disabled"
    assert explorer.status_text == "disable_key() succeeded; key state is now Disabled."
    explorer.enable_button.click()
    assert state(kms, key_id) == "Enabled"
    assert capsys.readouterr() == ("", "")  # callbacks never print (nbval would count it)


def test_schedule_deletion_uses_the_window_picker(kms):
    key_id = new_key(kms, "alias/old")
    explorer = KeyExplorer(kms)
    explorer.window_days.value = 7
    before = datetime.now(timezone.utc)
    explorer.schedule_button.click()
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    assert (
        before + timedelta(days=7)
        <= meta["DeletionDate"]
        <= datetime.now(timezone.utc) + timedelta(days=7)
    )
    assert explorer.rows[0].deletion_date == meta["DeletionDate"]
    assert explorer.rows[0].stable_cells()[-1] == "scheduled"


def test_window_picker_is_bounded_to_7_to_30_days_default_30(kms):
    explorer = KeyExplorer(kms)
    assert (explorer.window_days.min, explorer.window_days.max) == (7, 30)
    assert explorer.window_days.value == 30
    explorer.window_days.value = 3  # ipywidgets clamps into [min, max]
    assert explorer.window_days.value == 7
    explorer.window_days.value = 31
    assert explorer.window_days.value == 30


def test_default_window_schedules_deletion_30_days_ahead(kms):
    key_id = new_key(kms)
    explorer = KeyExplorer(kms)
    before = datetime.now(timezone.utc)
    explorer.schedule_button.click()
    deletion = kms.describe_key(KeyId=key_id)["KeyMetadata"]["DeletionDate"]
    assert (
        before + timedelta(days=30) <= deletion <= datetime.now(timezone.utc) + timedelta(days=30)
    )


def test_cancel_deletion_leaves_the_key_disabled(kms):
    key_id = new_key(kms, "alias/keep")
    explorer = KeyExplorer(kms)
    explorer.schedule_button.click()
    explorer.cancel_button.click()
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled"
    assert "DeletionDate" not in meta
    assert explorer.rows[0].deletion_date is None


@pytest.mark.parametrize("button", ["enable_button", "disable_button", "schedule_button"])
def test_refusal_on_a_key_pending_deletion_shows_the_real_error(kms, button):
    key_id = new_key(kms, "alias/doomed")
    explorer = KeyExplorer(kms)
    explorer.window_days.value = 7
    explorer.schedule_button.click()
    getattr(explorer, button).click()  # must not raise
    assert explorer.status_text.startswith("KMS refused ")
    assert ": KMSInvalidStateException: " in explorer.status_text
    assert state(kms, key_id) == "PendingDeletion"


def test_cancel_on_a_key_not_pending_deletion_is_refused(kms):
    key_id = new_key(kms, "alias/live")
    explorer = KeyExplorer(kms)
    explorer.cancel_button.click()
    assert explorer.status_text.startswith(
        "KMS refused cancel_key_deletion(): KMSInvalidStateException: "
    )
    assert state(kms, key_id) == "Enabled"


def test_explorer_acts_on_the_selected_key_only(kms):
    first = new_key(kms, "alias/first")
    second = new_key(kms, "alias/second")
    explorer = KeyExplorer(kms)
    explorer.select("alias/second")
    explorer.disable_button.click()
    assert (state(kms, first), state(kms, second)) == ("Enabled", "Disabled")
    arn = kms.describe_key(KeyId=first)["KeyMetadata"]["Arn"]
    explorer.select(arn)
    assert explorer.key_picker.value == first
    with pytest.raises(ValueError, match="refresh"):
        explorer.select("alias/missing")


def test_refresh_button_picks_up_new_keys(kms):
    explorer = KeyExplorer(kms)
    assert explorer.rows == [] and explorer.key_picker.value is None
    explorer.disable_button.click()
    assert explorer.status_text.startswith("No key selected")
    new_key(kms, "alias/later")
    explorer.refresh_button.click()
    assert [row.alias for row in explorer.rows] == ["alias/later"]


def test_explorer_rejects_a_non_client():
    with pytest.raises(TypeError, match="start_sandbox"):
        KeyExplorer("kms")


EXPECTED_EXPLORER_TEXT = """\
KMS keys in the sandbox (3):
  Alias       Key usage        Key spec           Key state        Rotation  Deletion date
  alias/app   ENCRYPT_DECRYPT  SYMMETRIC_DEFAULT  Enabled          off       -
  alias/gone  ENCRYPT_DECRYPT  SYMMETRIC_DEFAULT  PendingDeletion  off       scheduled
  (no alias)  ENCRYPT_DECRYPT  SYMMETRIC_DEFAULT  Disabled         off       -"""


def _explorer_scenario(kms) -> KeyExplorer:
    new_key(kms, "alias/gone")
    new_key(kms, "alias/app")
    new_key(kms)
    explorer = KeyExplorer(kms)
    explorer.select("alias/gone")
    explorer.schedule_button.click()
    explorer.select(explorer.rows[-1].key_id)
    explorer.disable_button.click()
    return explorer


def test_explorer_text_form_is_stable(kms):
    from kms_course.sandbox import start as sandbox

    first = _explorer_scenario(kms)
    sandbox.reset()
    second = _explorer_scenario(kms)
    assert first.text() == second.text() == EXPECTED_EXPLORER_TEXT
    bundle = second._repr_mimebundle_()
    assert bundle["text/plain"] == repr(second) == EXPECTED_EXPLORER_TEXT
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert_stable(bundle["text/plain"])
    assert_stable(bundle["text/html"])
    assert first._repr_mimebundle_()["text/html"] == bundle["text/html"]


# --- progress panel -------------------------------------------------------------------------

LESSON = "99_widget_tests"


def register_key_state_exercise(exercise_id: str, points: int, answer: str, state: str) -> None:
    """Register an exercise of LESSON that passes when the key in ``answer`` is in ``state``."""

    @exercises.exercise(
        exercise_id, lesson=LESSON, points=points, hint=f"Make it {state}.", answers=(answer,)
    )
    def _(kms, answers):
        key_id = answers.get(answer)
        if kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] != state:
            raise CheckFailed(f"the key is not {state}")


@pytest.fixture
def lesson_exercises():
    """Two exercises of a made-up lesson, removed from the registry afterwards."""
    register_key_state_exercise("99-enabled-key", 2, "w_key", "Enabled")
    register_key_state_exercise("99-disabled-key", 1, "w_off", "Disabled")
    yield
    for exercise_id in ("99-enabled-key", "99-disabled-key"):
        exercises.EXERCISES.pop(exercise_id, None)


def test_progress_panel_updates_as_checks_run(kms, lesson_exercises, monkeypatch, capsys):
    panel = ProgressPanel(LESSON)
    assert panel.text() == (
        f"Practice exercises of {LESSON}: 0/3 points\n"
        "  99-enabled-key   2 points  not checked yet\n"
        "  99-disabled-key  1 point  not checked yet"
    )
    assert (panel.bar.value, panel.bar.max) == (0, 3)

    key_id = new_key(kms)
    monkeypatch.setitem(globals(), "w_key", key_id)
    monkeypatch.setitem(globals(), "w_off", key_id)
    check("99-enabled-key", quiet=True)
    with pytest.raises(ExerciseNotPassed):
        check("99-disabled-key")
    assert panel.rows() == [("99-enabled-key", 2, "PASSED"), ("99-disabled-key", 1, "NOT YET")]
    assert panel.bar.value == 2
    assert "2/3 points" in panel.title.value

    kms.disable_key(KeyId=key_id)
    check("99-disabled-key", quiet=True)
    assert panel.rows()[1] == ("99-disabled-key", 1, "PASSED")
    # The enabled-key verdict stays PASSED until that check is run again.
    assert panel.earned_points == panel.bar.value == 3
    with pytest.raises(ExerciseNotPassed):
        check("99-enabled-key")
    assert panel.rows()[0] == ("99-enabled-key", 2, "NOT YET")
    assert panel.bar.value == 1
    assert capsys.readouterr().out == ""  # quiet checks; the panel itself never prints


def test_progress_panel_shows_verdicts_from_before_it_was_created(
    kms, lesson_exercises, monkeypatch
):
    monkeypatch.setitem(globals(), "w_key", new_key(kms))
    check("99-enabled-key", quiet=True)
    panel = ProgressPanel(LESSON)
    assert panel.rows()[0] == ("99-enabled-key", 2, "PASSED")


def test_progress_panel_text_form_is_stable(lesson_exercises):
    panel = ProgressPanel(LESSON)
    bundle = panel._repr_mimebundle_()
    assert bundle["text/plain"] == repr(panel) == panel.text()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert_stable(bundle["text/plain"])
    assert_stable(bundle["text/html"])
    assert ProgressPanel(LESSON)._repr_mimebundle_()["text/html"] == bundle["text/html"]


def test_progress_panel_rejects_an_unknown_lesson():
    with pytest.raises(ValueError, match="No exercises are registered for lesson '3_keys'"):
        ProgressPanel("3_keys")


def _check_cells(path):
    notebook = nbformat.read(path, as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.metadata["nbgrader"]["points"]
        for cell in notebook.cells
        if cell.metadata.get("kms_course", {}).get("role") == "check"
    }


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_progress_panel_matches_the_lessons_check_cells(path):
    """The panel lists exactly the notebook's check cells, with the points of their metadata."""
    expected = _check_cells(path)
    if not expected:
        pytest.skip(f"{path.name} has no check cells yet")
    panel = ProgressPanel(path.stem)
    assert {ex_id: points for ex_id, points, _ in panel.rows()} == expected


# --- envelope encryption stepper ------------------------------------------------------------

DOCUMENT = b"Quarterly numbers, not public yet."  # 34 bytes


def test_stepper_walks_through_envelope_encryption(kms, capsys):
    key_id = new_key(kms, "alias/docs")
    stepper = EnvelopeStepper(kms, "alias/docs", document=DOCUMENT)
    assert [item.text() for item in stepper.held] == [
        "plaintext document: 34 bytes, SECRET, in memory"
    ]

    stepper.next_button.click()  # 1. generate a data key
    sizes = {item.name: (item.size, item.secret) for item in stepper.held}
    assert sizes["plaintext data key"] == (32, True)  # AES_256 = 32 bytes (API_GenerateDataKey)
    assert sizes["encrypted data key"][1] is False

    stepper.next_button.click()  # 2. AES-256-GCM
    sizes = {item.name: (item.size, item.secret) for item in stepper.held}
    assert sizes["nonce"] == (12, False)
    assert sizes["ciphertext (document + 16-byte tag)"] == (34 + 16, False)

    stepper.next_button.click()  # 3. drop the plaintext data key
    assert not any(item.secret for item in stepper.held)

    stepper.next_button.click()  # 4. store
    envelope = stepper.envelope
    (stored,) = stepper.held
    assert stored.where == "stored" and stored.secret is False
    assert stored.size == len(envelope["encrypted_key"]) + 12 + 34 + 16

    # What is stored is enough, with KMS, to get the document back (independently of the widget).
    response = kms.decrypt(CiphertextBlob=envelope["encrypted_key"])
    assert response["KeyId"] == kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    assert (
        AESGCM(response["Plaintext"]).decrypt(envelope["nonce"], envelope["ciphertext"], None)
        == DOCUMENT
    )

    stepper.next_button.click()  # 5. KMS decrypts the data key
    assert ("plaintext data key", 32, True) in [(i.name, i.size, i.secret) for i in stepper.held]
    stepper.next_button.click()  # 6. decrypt the document
    assert stepper.step == 6 and stepper.recovered_matches is True
    assert stepper.next_button.disabled
    assert ("decrypted document", 34, True) in [(i.name, i.size, i.secret) for i in stepper.held]
    assert capsys.readouterr() == ("", "")


def test_stepper_shows_the_real_error_on_a_disabled_key(kms):
    key_id = new_key(kms)
    kms.disable_key(KeyId=key_id)
    stepper = EnvelopeStepper(kms, key_id, document=DOCUMENT)
    assert stepper.next() is False
    assert stepper.step == 0
    # GenerateDataKey on a disabled key: DisabledException (developerguide/key-state.html).
    assert stepper.status_text.startswith("KMS refused step 1: DisabledException: ")
    kms.enable_key(KeyId=key_id)
    stepper.run_all()
    assert stepper.step == 6 and stepper.recovered_matches is True


def test_stepper_decrypt_step_is_refused_after_the_key_is_disabled(kms):
    key_id = new_key(kms)
    stepper = EnvelopeStepper(kms, key_id, document=DOCUMENT)
    for _ in range(4):
        assert stepper.next()
    kms.disable_key(KeyId=key_id)
    assert stepper.next() is False
    assert stepper.status_text.startswith("KMS refused step 5: DisabledException: ")
    assert stepper.step == 4


def test_stepper_start_over(kms):
    stepper = EnvelopeStepper(kms, new_key(kms), document=DOCUMENT)
    stepper.run_all()
    stepper.reset_button.click()
    assert (stepper.step, stepper.envelope, stepper.recovered_matches) == (0, None, None)
    assert not stepper.next_button.disabled


EXPECTED_STEPPER_TEXT_START = """\
Envelope encryption stepper: 0 of 6 steps done
  [ ] 1. Generate a data key: kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
  [ ] 2. Encrypt the document locally: AESGCM(data_key).encrypt(nonce, document, None)
  [ ] 3. Drop the plaintext data key: del data_key, document
  [ ] 4. Store the encrypted data key beside the ciphertext: envelope = {encrypted_key, nonce, ciphertext}
  [ ] 5. Decrypt the data key with KMS: kms.decrypt(CiphertextBlob=encrypted_key, KeyId=key_id)
  [ ] 6. Decrypt the document locally, then drop the key: AESGCM(data_key).decrypt(nonce, ciphertext, None)
Held after step 0:
  - plaintext document: 34 bytes, SECRET, in memory"""


def test_stepper_text_form_is_stable(kms):
    first = EnvelopeStepper(kms, new_key(kms), document=DOCUMENT)
    assert first.text() == repr(first) == EXPECTED_STEPPER_TEXT_START
    second = EnvelopeStepper(kms, new_key(kms), document=DOCUMENT)
    first.run_all()
    second.run_all()  # different key, data key and nonce; same text
    assert first.text() == second.text()
    assert first._repr_mimebundle_()["text/html"] == second._repr_mimebundle_()["text/html"]
    assert first.text().endswith("Decrypted document equals the original: True")
    for text in (first.text(), first._repr_mimebundle_()["text/html"]):
        assert_stable(text)


@pytest.mark.parametrize(
    ("document", "key_id", "error", "match"),
    [
        ("text", "alias/x", TypeError, "encode"),
        (b"", "alias/x", ValueError, "at least 1 byte"),
        (b"x", None, TypeError, "key ID, key ARN or alias"),
    ],
)
def test_stepper_rejects_bad_input(kms, document, key_id, error, match):
    with pytest.raises(error, match=match):
        EnvelopeStepper(kms, key_id, document=document)


def test_stepper_binds_the_encryption_context(kms):
    key_id = new_key(kms)
    context = {"document_id": "report-7"}
    stepper = EnvelopeStepper(kms, key_id, document=DOCUMENT, encryption_context=context)
    stepper.run_all()
    assert stepper.recovered_matches is True
    assert (
        'kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)'
        in stepper.text()
    )
    envelope = stepper.envelope
    assert envelope["encryption_context"] == context
    aad = b'{"document_id": "report-7"}'  # canonical JSON of the context, as the lesson builds it
    assert stepper.held[0].size == len(envelope["encrypted_key"]) + 12 + 34 + 16 + len(aad)
    # The data key opens only with the same context (developerguide/encrypt_context.html) ...
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(
            CiphertextBlob=envelope["encrypted_key"], EncryptionContext={"document_id": "x"}
        )
    data_key = kms.decrypt(CiphertextBlob=envelope["encrypted_key"], EncryptionContext=context)[
        "Plaintext"
    ]
    # ... and the document only with the same associated data.
    assert AESGCM(data_key).decrypt(envelope["nonce"], envelope["ciphertext"], aad) == DOCUMENT


def test_stepper_rejects_a_non_string_context(kms):
    with pytest.raises(TypeError, match="str to str"):
        EnvelopeStepper(kms, "alias/x", document=b"x", encryption_context={"n": 1})


def test_stepper_never_reuses_a_nonce_or_data_key(kms):
    """C25: each run makes a fresh data key and a fresh 12-byte random nonce, so the same document
    never gives the same ciphertext twice."""
    stepper = EnvelopeStepper(kms, new_key(kms), document=DOCUMENT)
    envelopes = []
    for _ in range(2):
        stepper.run_all()
        envelopes.append(stepper.envelope)
        stepper.reset()
    first, second = envelopes
    assert first["nonce"] != second["nonce"]
    assert first["encrypted_key"] != second["encrypted_key"]
    assert first["ciphertext"] != second["ciphertext"]
