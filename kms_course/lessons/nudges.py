"""The first hint of each exercise: a nudge, not the answer (issue 11, item 6: hints step up).

A check that fails in the lab says first what is wrong (the check's message), then a hint. The
first two times an exercise fails in a kernel the hint is the exercise's **nudge** from
:data:`NUDGES`: which idea of the lesson to use, or which part of the response to look at, without
the call that solves it. From the third failure of the same exercise on, the hint is the
exercise's full hint (``hint=`` of :func:`kms_course.lessons.exercises.exercise`, which often gives
the call). :func:`kms_course.lessons.exercises.check` counts the failures; the grader's feedback
page always shows the full hint, since the student gets one report per submission, not three tries.

Written by hand for every exercise, in the lessons' field terms (KMS key, key ID, alias, data
key, encryption context, key policy, grant, principal). An exercise without a nudge here (a
lesson being written) gets :data:`GENERIC`.
"""

from __future__ import annotations

#: Exercise id -> its nudge (one or two sentences, no call that solves it).
NUDGES: dict[str, str] = {
    # 01: what KMS is
    "01-aws-managed-key": "AWS managed keys are reached through their aliases, which start with "
    "alias/aws/. Which KMS operation describes a key, and which field of its metadata says who "
    "manages it?",
    "01-public-key": "An asymmetric key for signing needs both a key usage and a key spec chosen "
    "at creation. Its private key never leaves KMS; one operation hands out the public key.",
    "01-largest-plaintext": "The lesson gives Encrypt's limit for plaintext sent to a symmetric "
    "KMS key: use exactly that many bytes, not one fewer, and keep the ciphertext.",
    # 02: KMS keys vs data keys
    "02-data-key": "A data key comes back twice in one response: once to use now and once "
    "encrypted under the KMS key, to store. Keep both, from the same call.",
    "02-aes128-data-key": "GenerateDataKey asks for the length of the data key, either by a key "
    "spec or by a byte count. Which one gives a 128-bit key?",
    "02-per-document-keys": "Each document gets its own data key: one request to KMS per "
    "document, each encrypted copy kept under that document's name.",
    # 03: creating and describing keys
    "03-hmac-key": "An HMAC key is not for encryption: its key usage and its key spec both say "
    "MAC. Keep the key ID from the response.",
    "03-signing-key": "Read the message above: the key usage, the key spec or the description is "
    "not the one the exercise asks for. All three are set when the key is created.",
    "03-alias-state": "Three steps: a key, an alias that points at it, then a description of the "
    "key reached through the alias name (not the key ID).",
    # 04: encrypting and decrypting
    "04-round-trip": "Compare the type of what Decrypt gives back with the type of the text you "
    "encrypted.",
    "04-base64-storage": "Stored ciphertext must be text: base64 turns bytes into ASCII. Encode "
    "the raw CiphertextBlob once, and end with a str, not bytes.",
    "04-encryption-context": "The exercise binds the ciphertext to who and what it is for: the "
    "encryption context must hold exactly the pairs the exercise names, with the same spelling.",
    "04-byte-limit": "Encrypt's limit is counted in bytes after UTF-8 encoding, not in "
    "characters. How many bytes does one 'é' take?",
    # 05: data keys and envelope encryption
    "05-generate-data-key": "The data key request takes the key spec and the encryption context "
    "of the exercise. Keep the encrypted copy, and measure the plaintext copy.",
    "05-seal-document": "Envelope encryption: every document its own data key, every encryption "
    "its own nonce, the encryption context also as AES-GCM's associated data, and no plaintext "
    "data key kept afterwards.",
    "05-deferred-data-key": "The exercise wants a data key whose plaintext copy is not returned "
    "now. To use it later, KMS must decrypt the stored copy, with the same encryption context.",
    # 06: key rotation
    "06-enable-rotation": "Automatic rotation is switched on per key, and the period is a "
    "parameter of the same call. Check the number of days the exercise asks for.",
    "06-rotate-on-demand": "Order matters: the old ciphertext must exist before the new key "
    "material does, and must still decrypt afterwards.",
    "06-cannot-rotate": "Only symmetric encryption keys rotate. Make the kind of key that cannot, "
    "try to switch rotation on, and keep the error KMS raises.",
    # 07: key deletion
    "07-disable-key": "A disabled key refuses cryptographic operations: disable it, then try one "
    "and keep the error code from the error's response.",
    "07-schedule-deletion": "KMS never deletes a key at once: it schedules the deletion after a "
    "waiting period. Use the shortest period allowed and keep what the response says it is.",
    "07-cancel-deletion": "Cancelling a deletion does not bring the key back in the state it had "
    "before. Look at the key state after cancelling.",
    "07-deletion-completes": "A scheduled deletion completes when the sandbox clock passes the "
    "deletion date; after that, ciphertext under the key no longer decrypts. Keep the error code.",
    # 08: key policies and grants
    "08-key-administrator": "Read the message above: a key administrator manages the key but "
    "must not be able to use it or to give others the use of it. A wildcard action can hide "
    "such a permission.",
    "08-application-role": "Least privilege: the application role gets only the operations it "
    "calls to store documents, and only for the document store's encryption context. The "
    "account statement stays.",
    "08-reader-role": "What does reading a stored document need from KMS? Grant that one "
    "operation, under the same encryption context condition as the application's statement.",
    "08-give-grant": "A grant names who may use the key (grantee), for which operations, who may "
    "retire it, and under which encryption context constraint.",
    "08-retire-grant": "Retiring is done by the retiring principal, not by you as the key's "
    "owner, and it identifies the grant by its grant token.",
    # 09: asymmetric keys, signatures and MACs
    "09-sign-release": "A signing key gets its key usage and its key spec when it is created. "
    "Then sign exactly the bytes of the release note with the one algorithm that curve supports, "
    "and keep the signature.",
    "09-verify-offline": "Offline means the public key and the cryptography library only: "
    "download the supplier's public key once, then check each signature against its own "
    "message. A wrong signature raises, it does not return False.",
    "09-sign-digest": "The report is too long to send whole. Hash it yourself with the "
    "algorithm's hash, send only the digest, and tell KMS that it is a digest so that it is not "
    "hashed again.",
    "09-mac-session": "An HMAC key's usage and spec both say MAC, and the spec names its size. "
    "Checking the forged cookie does not answer False: keep the error code KMS raises.",
    "09-rsa-limit": "Compare 300 bytes with the RSAES_OAEP_SHA_256 column of the lesson's table "
    "and take the first key spec that holds them; this key encrypts, it does not sign.",
    "09-data-key-pair": "The service must never hold the private key in plaintext, and one of "
    "the two data key pair operations leaves it out. A symmetric encryption KMS key protects "
    "the pair.",
    # 10: capstone
    "10-store-setup": "The store needs three things that outlive this cell: a bucket, a KMS key "
    "and an alias for it, with the names the exercise gives.",
    "10-put-document": "Each document: its own data key, bound to the document by the encryption "
    "context, a fresh nonce, and everything needed to decrypt later stored beside the "
    "ciphertext, as text.",
    "10-read-document": "Reading reverses writing: get back the encrypted data key and the "
    "nonce, have KMS decrypt the data key with the same encryption context, then AES-GCM.",
    "10-share-document": "Sharing gives the reader's role a permission, not a copy: one "
    "operation on the key, limited to the memo's encryption context. The reader then calls KMS "
    "with its own client.",
    "10-docstore": "The DocumentStore class does the steps of the exercises above; readers are "
    "role ARNs, not names. Put, share with both, read as Frank, then take Grace's share back.",
    "10-who-read": "A read of the ledger is a Decrypt event with the ledger's encryption context "
    "that KMS did not refuse. Who made it is in userIdentity; for a role session, look for the "
    "role that issued it.",
}

#: The nudge of an exercise that has none in :data:`NUDGES`.
GENERIC = ("Read the message above: it names what the check found. The lesson's section just "
           "above this exercise shows the calls it needs.")

#: From this failure of the same exercise in one kernel on, the lab shows the full hint.
FULL_HINT_FROM = 3


def nudge(exercise_id: str) -> str:
    """The first hint of ``exercise_id`` (str): its nudge, or :data:`GENERIC`."""
    return NUDGES.get(exercise_id, GENERIC)


def stepped_hint(exercise_id: str, full_hint: str, failures: int) -> str:
    """The hint the lab shows at the ``failures``-th failure (1-based) of ``exercise_id``.

    Returns:
        Before the :data:`FULL_HINT_FROM`-th failure, the nudge and how many more failures bring
        the full hint; from then on ``full_hint`` (the nudge when there is no full hint).

    Raises:
        ValueError: ``failures`` is less than 1.
    """
    if failures < 1:
        raise ValueError(f"failures must be 1 or more, not {failures!r}")
    if not full_hint:
        return nudge(exercise_id)
    if failures >= FULL_HINT_FROM:
        return full_hint
    left = FULL_HINT_FROM - failures
    more = "one more failed check" if left == 1 else f"{left} more failed checks"
    return (f"{nudge(exercise_id)} (Still stuck? {more} of this exercise and the hint gives "
            "the calls.)")
