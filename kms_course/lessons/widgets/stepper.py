"""Envelope encryption stepper: one button press per step, with sizes and what is secret.

``EnvelopeStepper(kms, key_id, document=b"...")`` walks through envelope encryption with a KMS
key, one real call per step:

1. ``kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")`` returns the data key twice: in
   plaintext (32 bytes, secret) and encrypted under the KMS key (not secret: only KMS can decrypt
   it). https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html
2. AES-256-GCM (``cryptography``'s ``AESGCM``) encrypts the document locally with the plaintext
   data key and a fresh random 12-byte nonce; the ciphertext is the document's length plus a
   16-byte authentication tag.
   https://cryptography.io/en/latest/hazmat/primitives/aead/#cryptography.hazmat.primitives.ciphers.aead.AESGCM
3. The plaintext data key (and the plaintext document) are dropped from memory.
4. The encrypted data key is stored beside the nonce and the ciphertext: nothing stored is secret.
5. ``kms.decrypt(CiphertextBlob=encrypted_key, KeyId=key_id)`` turns the encrypted data key back
   into the plaintext data key. https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html
6. AES-256-GCM decrypts the ciphertext with it, the document is compared with the original, and
   the plaintext data key is dropped again.

The pattern is described in the Developer Guide:
https://docs.aws.amazon.com/kms/latest/developerguide/kms-cryptography.html#enveloping

Every KMS call goes through the given boto3 client, so the sandbox's rules apply: on a disabled
key, for instance, step 1 or 5 shows ``DisabledException`` and the stepper stays where it was.
The stepper has a stable plain-text form (step names, sizes, secrecy; no key IDs or bytes); its
callbacks never print.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kms_course.envelope import NONCE_BYTES
from kms_course.lessons.widgets.key_explorer import describe_error
from kms_course.widget_text import TextForm


DEFAULT_DOCUMENT = b"Payroll March: Alice 5200 EUR, Bob 4800 EUR."

#: (title, the call made) of each step, in order, without an encryption context.
STEPS = (
    ("Generate a data key", 'kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")'),
    ("Encrypt the document locally", "AESGCM(data_key).encrypt(nonce, document, None)"),
    ("Drop the plaintext data key", "del data_key, document"),
    (
        "Store the encrypted data key beside the ciphertext",
        "envelope = {encrypted_key, nonce, ciphertext}",
    ),
    ("Decrypt the data key with KMS", "kms.decrypt(CiphertextBlob=encrypted_key, KeyId=key_id)"),
    (
        "Decrypt the document locally, then drop the key",
        "AESGCM(data_key).decrypt(nonce, ciphertext, None)",
    ),
)


@dataclass(frozen=True)
class Item:
    """One value the application holds after a step: its name, size in bytes, and secrecy."""

    name: str
    size: int
    secret: bool
    where: str = "in memory"

    def text(self) -> str:
        """E.g. ``"plaintext data key: 32 bytes, SECRET, in memory"``."""
        secrecy = "SECRET" if self.secret else "not secret"
        return f"{self.name}: {self.size} bytes, {secrecy}, {self.where}"


class EnvelopeStepper(TextForm):
    """Envelope encryption of ``document`` under KMS key ``key_id``, one step per button press.

    Args:
        kms: a boto3 KMS client of the sandbox.
        key_id: key ID, key ARN, alias name or alias ARN of a symmetric encryption KMS key.
        document: the plaintext to protect, bytes (at least 1 byte). AES-GCM itself has no
            4096-byte limit, unlike KMS Encrypt.
        encryption_context: optional str -> str pairs, passed as ``EncryptionContext`` to
            GenerateDataKey and Decrypt and, as canonical JSON (sorted keys, UTF-8), as AES-GCM's
            associated data, so the stored envelope only opens with the same context
            (https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html).

    Attributes:
        step: number of steps done, 0 to 6.
        held: the :class:`Item` list the application holds after the last step.
        recovered_matches: after step 6, whether the decrypted document equals ``document``.
        next_button, reset_button: the buttons (``next_button.click()`` performs the next step).
        status_text: the last outcome as plain text (a KMS refusal shows code and message).
        widget: the ``VBox`` that Jupyter displays.

    Raises:
        TypeError: ``document`` is not bytes (encode text first: ``"...".encode()``),
            ``key_id`` is not a str, or ``encryption_context`` is not a dict of str to str.
        ValueError: ``document`` or ``key_id`` is empty.
    """

    def __init__(
        self,
        kms: Any,
        key_id: str,
        document: bytes = DEFAULT_DOCUMENT,
        encryption_context: dict[str, str] | None = None,
    ):
        if not isinstance(document, (bytes, bytearray)):
            raise TypeError(
                f"document must be bytes, not {type(document).__name__}: "
                "pass text as 'my text'.encode()."
            )
        if not document:
            raise ValueError("document is empty: give at least 1 byte to encrypt.")
        if not isinstance(key_id, str) or not key_id:
            raise TypeError("key_id must be a non-empty str: a key ID, key ARN or alias name.")
        context = dict(encryption_context or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in context.items()):
            raise TypeError("encryption_context must map str to str, e.g. {'purpose': 'demo'}.")
        self.kms = kms
        self.key_id = key_id
        self.encryption_context = context
        self._kms_context = {"EncryptionContext": context} if context else {}
        self._aad = json.dumps(context, sort_keys=True).encode("utf-8") if context else None
        self.document = bytes(document)
        self.table = widgets.HTML()
        self.next_button = widgets.Button(description="Next step", button_style="primary")
        self.reset_button = widgets.Button(description="Start over")
        self.status = widgets.HTML()
        self.next_button.on_click(lambda _: self.next())
        self.reset_button.on_click(lambda _: self.reset())
        self.widget = widgets.VBox(
            [
                widgets.HTML("<b>Envelope encryption, step by step</b>"),
                self.table,
                widgets.HBox([self.next_button, self.reset_button]),
                self.status,
            ]
        )
        self.reset()

    # --- the steps -------------------------------------------------------------------------

    def reset(self) -> None:
        """Go back to the start: only the plaintext document is held."""
        self.step = 0
        self._data_key: bytes | None = None
        self._encrypted_key: bytes | None = None
        self._nonce: bytes | None = None
        self._ciphertext: bytes | None = None
        self.recovered_matches: bool | None = None
        self.held = [Item("plaintext document", len(self.document), True)]
        self.next_button.disabled = False
        self._say("Press Next step to generate a data key.", ok=True)

    def next(self) -> bool:
        """Perform the next step.

        Returns:
            True if the step was done; False if all steps are done or KMS refused (the error
            code and message are then in :attr:`status_text`, and the step can be retried).
        """
        if self.step >= len(STEPS):
            self._say("All steps done. Press Start over to run them again.", ok=True)
            return False
        try:
            self.held = getattr(self, self._ACTIONS[self.step])()
        except Exception as error:  # noqa: BLE001  (shown, never raised: a refusal is the lesson)
            self._say(f"KMS refused step {self.step + 1}: {describe_error(error)}", ok=False)
            return False
        self.step += 1
        self._say(f"Step {self.step} done: {STEPS[self.step - 1][0]}.", ok=True)
        self.next_button.disabled = self.step == len(STEPS)
        return True

    def run_all(self) -> None:
        """Perform every remaining step (stops at the first refusal)."""
        while self.step < len(STEPS) and self.next():
            pass

    def _generate(self) -> list[Item]:
        response = self.kms.generate_data_key(
            KeyId=self.key_id, KeySpec="AES_256", **self._kms_context
        )
        self._data_key, self._encrypted_key = response["Plaintext"], response["CiphertextBlob"]
        return [
            *self.held,
            Item("plaintext data key", len(self._data_key), True),
            Item("encrypted data key", len(self._encrypted_key), False),
        ]

    def _encrypt(self) -> list[Item]:
        self._nonce = os.urandom(NONCE_BYTES)  # a fresh nonce for every encryption
        self._ciphertext = AESGCM(self._data_key).encrypt(self._nonce, self.document, self._aad)
        return [
            *self.held,
            Item("nonce", len(self._nonce), False),
            Item("ciphertext (document + 16-byte tag)", len(self._ciphertext), False),
        ]

    def _drop(self) -> list[Item]:
        self._data_key = None
        return [item for item in self.held if not item.secret]

    def _store(self) -> list[Item]:
        size = len(self._encrypted_key) + len(self._nonce) + len(self._ciphertext)
        if self._aad is None:
            return [
                Item("envelope (encrypted data key + nonce + ciphertext)", size, False, "stored")
            ]
        size += len(self._aad)
        name = "envelope (encrypted data key + nonce + ciphertext + context as JSON)"
        return [Item(name, size, False, "stored")]

    def _decrypt_key(self) -> list[Item]:
        response = self.kms.decrypt(
            CiphertextBlob=self._encrypted_key, KeyId=self.key_id, **self._kms_context
        )
        self._data_key = response["Plaintext"]
        return [*self.held, Item("plaintext data key", len(self._data_key), True)]

    def _decrypt_document(self) -> list[Item]:
        recovered = AESGCM(self._data_key).decrypt(self._nonce, self._ciphertext, self._aad)
        self._data_key = None
        self.recovered_matches = recovered == self.document
        return [self.held[0], Item("decrypted document", len(recovered), True)]

    _ACTIONS = ("_generate", "_encrypt", "_drop", "_store", "_decrypt_key", "_decrypt_document")

    @property
    def envelope(self) -> dict[str, Any] | None:
        """After step 4: what is stored, ``{"encrypted_key", "nonce", "ciphertext"}`` (bytes)
        plus ``"encryption_context"`` (dict) when one is set; nothing in it is secret. Before
        step 4, None."""
        if self.step < 4:
            return None
        stored: dict[str, Any] = {
            "encrypted_key": self._encrypted_key,
            "nonce": self._nonce,
            "ciphertext": self._ciphertext,
        }
        if self.encryption_context:
            stored["encryption_context"] = dict(self.encryption_context)
        return stored

    # --- display ---------------------------------------------------------------------------

    def steps(self) -> list[tuple[str, str]]:
        """(title, call) of each step, with ``EncryptionContext`` and AAD when a context is set."""
        if not self.encryption_context:
            return list(STEPS)
        steps = []
        for title, call in STEPS:
            if call.startswith("kms."):
                call = call[:-1] + ", EncryptionContext=context)"
            elif call.startswith("envelope"):
                call = call[:-1] + ", context}"
            else:
                call = call.replace("None)", "aad)")
            steps.append((title, call))
        return steps

    def _say(self, text: str, *, ok: bool) -> None:
        self.status_text = text
        colour = "#1a7f37" if ok else "#b42318"
        self.status.value = f"<span style='color:{colour}'>{html.escape(text)}</span>"
        self.table.value = self.html()

    def html(self) -> str:
        """Stable HTML form: the steps with done / next marks, the items held, and the result."""
        rows = []
        for number, (title, call) in enumerate(self.steps(), start=1):
            mark = "✔" if number <= self.step else ("➜" if number == self.step + 1 else "")
            rows.append(
                f"<tr><td>{mark}</td><td>{number}. {html.escape(title)}</td>"
                f"<td><code>{html.escape(call)}</code></td></tr>"
            )
        held = "".join(
            f"<li style='color:{'#b42318' if item.secret else '#1a7f37'}'>{html.escape(item.text())}</li>"
            for item in self.held
        )
        extra = ""
        if self.recovered_matches is not None:
            extra = f"<p>Decrypted document equals the original: {self.recovered_matches}</p>"
        return (
            f"<table class='kms-course-stepper'>{''.join(rows)}</table>"
            f"<p>Held after step {self.step}:</p><ul>{held}</ul>{extra}"
        )

    def text(self) -> str:
        """Stable plain-text form: steps done, the items held with sizes and secrecy."""
        lines = [f"Envelope encryption stepper: {self.step} of {len(STEPS)} steps done"]
        for number, (title, call) in enumerate(self.steps(), start=1):
            mark = "[x]" if number <= self.step else "[ ]"
            lines.append(f"  {mark} {number}. {title}: {call}")
        lines.append(f"Held after step {self.step}:")
        lines.extend(f"  - {item.text()}" for item in self.held)
        if self.recovered_matches is not None:
            lines.append(f"Decrypted document equals the original: {self.recovered_matches}")
        return "\n".join(lines)
