"""Correct solutions written differently from the masters (issue 11, item 7).

``ALTERNATIVES[exercise id]`` is one correct answer, as the cells a student might write: a list
of ``(kind, source)``, in notebook order, where ``kind`` is

* ``"solution"``: a cell carrying the exercise's id (the solution cell, or a part of it after
  JupyterLab's Split Cell: Jupyter keeps the metadata);
* ``"added"``: a cell the student added (no metadata), e.g. a helper function above the answer.

Each differs from the master in a way the lessons allow: the key ARN or an alias instead of the
key ID (KeyId takes a key ID, key ARN, alias name or alias ARN:
https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html#API_DescribeKey_RequestSyntax),
``NumberOfBytes`` instead of ``KeySpec`` (GenerateDataKey takes either:
https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html#API_GenerateDataKey_RequestSyntax),
another asymmetric signing key spec or HMAC key spec
(https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-spec.html), a new
boto3 client, helper functions, comprehensions, ``base64.encodebytes``, and answers in two cells.
Every one must score full points in the lab (the check cell's verdict) and in the grader.
"""

from __future__ import annotations

# A new boto3 client reaches the same sandbox as `kms` (the lab's in-kernel moto, the grader's
# course server through the environment): several answers below make their own.
_NEW_CLIENT = "import boto3\n\nmy_kms = boto3.client('kms', region_name=kms.meta.region_name)\n"
# Lesson 09 makes its own `kms` with a plain boto3.client('kms'): so does a student.
_LESSON_CLIENT = "import boto3\n\nmy_kms = boto3.client('kms')  # as the lesson's own client is made\n"

ALTERNATIVES: dict[str, list[tuple[str, str]]] = {
    # ---- 01: what KMS is
    "01-aws-managed-key": [("solution", _NEW_CLIENT + (
        "arn = my_kms.describe_key(KeyId='alias/aws/s3')['KeyMetadata']['Arn']\n"
        "described = my_kms.describe_key(KeyId=arn)['KeyMetadata']  # by key ARN this time\n"
        "s3_key_id, s3_key_manager = described['KeyId'], described['KeyManager']"))],
    "01-public-key": [
        ("solution", "pair = kms.create_key(KeyUsage='SIGN_VERIFY', KeySpec='RSA_3072')\n"
                     "pair_key_id = pair['KeyMetadata']['Arn']  # the key ARN names the key too"),
        ("solution", "public_key_der = kms.get_public_key(KeyId=pair_key_id)['PublicKey']"),
    ],
    "01-largest-plaintext": [
        ("added", "LIMIT = 4096  # bytes of plaintext Encrypt takes with a symmetric KMS key\n\n\n"
                  "def encrypt_bytes(key, n):\n"
                  "    return kms.encrypt(KeyId=key, Plaintext=bytes([65]) * n)['CiphertextBlob']"),
        ("solution", "limit_key_arn = kms.create_key()['KeyMetadata']['Arn']\n"
                     "max_ciphertext = encrypt_bytes(limit_key_arn, LIMIT)"),
    ],
    # ---- 02: KMS keys vs data keys
    "02-data-key": [
        ("solution", "doc_key_id = kms.create_key(Description='documents')['KeyMetadata']['KeyId']"),
        ("solution", "doc_plaintext_key, doc_encrypted_key = (\n"
                     "    lambda r: (r['Plaintext'], r['CiphertextBlob'])\n"
                     ")(kms.generate_data_key(KeyId=doc_key_id, NumberOfBytes=32))  # 32 bytes = AES_256"),
    ],
    "02-aes128-data-key": [("solution", _NEW_CLIENT + (
        "kms.create_alias(AliasName='alias/small-keys',\n"
        "                 TargetKeyId=my_kms.create_key()['KeyMetadata']['KeyId'])\n"
        "small_encrypted_key = my_kms.generate_data_key(\n"
        "    KeyId='alias/small-keys', NumberOfBytes=16)['CiphertextBlob']  # 16 bytes = 128 bits"))],
    "02-per-document-keys": [
        ("added", "def new_data_key(key_id):\n"
                  "    \"\"\"The encrypted copy of a fresh 256-bit data key.\"\"\"\n"
                  "    return kms.generate_data_key(KeyId=key_id, KeySpec='AES_256')['CiphertextBlob']"),
        ("solution", "documents_key_id = kms.create_key()['KeyMetadata']['Arn']\n"
                     "names = ('contract.pdf', 'payslip.pdf', 'passport.png')\n"
                     "encrypted_keys = {name: new_data_key(documents_key_id) for name in names}"),
    ],
    # ---- 03: creating and describing keys
    "03-hmac-key": [
        ("added", "HMAC_KEY = dict(KeyUsage='GENERATE_VERIFY_MAC', KeySpec='HMAC_256')  # my settings"),
        ("solution", "hmac_key_id = kms.create_key(**HMAC_KEY)['KeyMetadata']['Arn']  # the key ARN"),
    ],
    "03-signing-key": [("solution", _NEW_CLIENT + (
        "metadata = my_kms.create_key(KeySpec='RSA_2048', KeyUsage='SIGN_VERIFY',\n"
        "                             Description='Invoice signing key')['KeyMetadata']\n"
        "signing_key_id = metadata['Arn']"))],
    "03-alias-state": [
        ("solution", "orders_key_id = kms.create_key()['KeyMetadata']['KeyId']  # ENCRYPT_DECRYPT by default\n"
                     "kms.create_alias(AliasName='alias/lesson03-orders', TargetKeyId=orders_key_id)"),
        ("solution", "alias_arn = next(a['AliasArn'] for a in kms.list_aliases()['Aliases']\n"
                     "                 if a['AliasName'] == 'alias/lesson03-orders')\n"
                     "orders_key_state = kms.describe_key(KeyId=alias_arn)['KeyMetadata']['KeyState']"),
    ],
    # ---- 04: encrypting and decrypting
    "04-round-trip": [("solution", (
        "report_key_id = kms.create_key()['KeyMetadata']['Arn']\n"
        "report_ciphertext = kms.encrypt(KeyId=report_key_id,\n"
        "                                Plaintext='Quarterly report: confidential'.encode())['CiphertextBlob']\n"
        "report_plaintext = str(kms.decrypt(CiphertextBlob=report_ciphertext)['Plaintext'], 'utf-8')"))],
    "04-base64-storage": [("solution", (
        "import base64\n\n"
        "card_key_id = kms.create_key()['KeyMetadata']['KeyId']\n"
        "raw = kms.encrypt(KeyId=card_key_id, Plaintext=b'card ending 4242')['CiphertextBlob']\n"
        "stored_ciphertext = base64.encodebytes(raw).decode('ascii')  # MIME lines, b64decode reads them"))],
    "04-encryption-context": [
        ("added", "PAYROLL = {'purpose': 'payroll', 'employee_id': 'E-1001'}  # order does not matter"),
        ("solution", "salary_key_id = kms.create_key()['KeyMetadata']['KeyId']\n"
                     "kms.create_alias(AliasName='alias/payroll', TargetKeyId=salary_key_id)\n"
                     "salary_ciphertext = kms.encrypt(KeyId='alias/payroll', Plaintext=b'salary: 5000',\n"
                     "                                EncryptionContext=PAYROLL)['CiphertextBlob']"),
    ],
    "04-byte-limit": [
        ("solution", "text = ''\n"
                     "while len((text + 'é').encode('utf-8')) <= 4096:\n"
                     "    text += 'é'"),
        ("solution", "accent_key_id = kms.create_key()['KeyMetadata']['KeyId']\n"
                     "accent_ciphertext = kms.encrypt(KeyId=accent_key_id, Plaintext=text.encode())['CiphertextBlob']"),
    ],
    # ---- 05: data keys and envelope encryption
    "05-generate-data-key": [("solution", _NEW_CLIENT + (
        "dk_key_id = my_kms.create_key()['KeyMetadata']['Arn']\n"
        "generated = my_kms.generate_data_key(KeyId=dk_key_id, NumberOfBytes=32,\n"
        "                                     EncryptionContext={'purpose': 'lesson-05'})\n"
        "dk_encrypted_data_key, dk_plaintext_length = generated['CiphertextBlob'], len(generated['Plaintext'])\n"
        "generated = None"))],
    "05-seal-document": [
        ("added", "import json\n"
                  "import secrets\n"
                  "from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n\n\n"
                  "def aad_of(context):\n"
                  "    return json.dumps(context, sort_keys=True).encode('utf-8')\n\n\n"
                  "def seal(kms, key_id, document, encryption_context):\n"
                  "    response = kms.generate_data_key(KeyId=key_id, NumberOfBytes=32,\n"
                  "                                     EncryptionContext=encryption_context)\n"
                  "    nonce = secrets.token_bytes(12)\n"
                  "    box = AESGCM(response.pop('Plaintext'))\n"
                  "    return {'encrypted_data_key': response['CiphertextBlob'], 'nonce': nonce,\n"
                  "            'ciphertext': box.encrypt(nonce, document, aad_of(encryption_context))}"),
        ("solution", "seal_key_id = kms.create_key()['KeyMetadata']['Arn']\n"
                     "sealed_first, sealed_second = (\n"
                     "    seal(kms, seal_key_id, b'Board minutes: merger approved', {'document_id': 'minutes-7'})\n"
                     "    for _ in range(2))"),
    ],
    "05-deferred-data-key": [
        ("solution", "import json, os\n"
                     "from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n\n"
                     "deferred_key_id = kms.create_key()['KeyMetadata']['KeyId']\n"
                     "kms.create_alias(AliasName='alias/nightly-export', TargetKeyId=deferred_key_id)\n"
                     "deferred_encrypted_data_key = kms.generate_data_key_without_plaintext(\n"
                     "    KeyId='alias/nightly-export', NumberOfBytes=32, EncryptionContext={'job': 'nightly-export'}\n"
                     ")['CiphertextBlob']"),
        ("solution", "later = kms.decrypt(CiphertextBlob=deferred_encrypted_data_key,\n"
                     "                    EncryptionContext={'job': 'nightly-export'})  # KMS finds the key\n"
                     "nonce = os.urandom(12)\n"
                     "deferred_sealed = dict(\n"
                     "    encrypted_data_key=deferred_encrypted_data_key, nonce=nonce,\n"
                     "    ciphertext=AESGCM(later['Plaintext']).encrypt(\n"
                     "        nonce, b'nightly export', json.dumps({'job': 'nightly-export'}).encode()))\n"
                     "del later"),
    ],
    # ---- 06: key rotation
    "06-enable-rotation": [("solution", _NEW_CLIENT + (
        "rotating_key_id = my_kms.create_key()['KeyMetadata']['Arn']\n"
        "my_kms.enable_key_rotation(KeyId=rotating_key_id, RotationPeriodInDays=30 * 6)"))],
    "06-rotate-on-demand": [
        ("solution", "ondemand_key_id = kms.create_key()['KeyMetadata']['Arn']\n"
                     "ondemand_old_ciphertext = kms.encrypt(KeyId=ondemand_key_id,\n"
                     "                                      Plaintext=b'before rotation')['CiphertextBlob']"),
        ("solution", "kms.rotate_key_on_demand(KeyId=ondemand_key_id)\n"
                     "assert kms.decrypt(CiphertextBlob=ondemand_old_ciphertext)['Plaintext'] == b'before rotation'"),
    ],
    "06-cannot-rotate": [
        ("added", "from botocore.exceptions import ClientError\n\n\n"
                  "def error_code(call, **arguments):\n"
                  "    \"\"\"The code of the error KMS answers to call(**arguments), or None.\"\"\"\n"
                  "    try:\n"
                  "        call(**arguments)\n"
                  "    except ClientError as error:\n"
                  "        return error.response['Error']['Code']\n"
                  "    return None"),
        ("solution", "mac_key_id = kms.create_key(KeyUsage='GENERATE_VERIFY_MAC', KeySpec='HMAC_512')['KeyMetadata']['Arn']\n"
                     "mac_rotation_error = error_code(kms.enable_key_rotation, KeyId=mac_key_id)"),
    ],
    # ---- 07: key deletion
    "07-disable-key": [("solution", (
        "from botocore.exceptions import ClientError\n\n"
        "paused_key_id = kms.create_key()['KeyMetadata']['Arn']\n"
        "kms.disable_key(KeyId=paused_key_id)\n"
        "try:\n"
        "    kms.generate_data_key(KeyId=paused_key_id, KeySpec='AES_256')\n"
        "except ClientError as error:\n"
        "    paused_error_code = error.response['Error']['Code']"))],
    "07-schedule-deletion": [("solution", _NEW_CLIENT + (
        "doomed_key_id = my_kms.create_key()['KeyMetadata']['Arn']\n"
        "doomed_window_days = my_kms.schedule_key_deletion(\n"
        "    KeyId=doomed_key_id, PendingWindowInDays=7)['PendingWindowInDays']"))],
    "07-cancel-deletion": [
        ("added", "def rescue(key_id):\n"
                  "    kms.cancel_key_deletion(KeyId=key_id)\n"
                  "    kms.enable_key(KeyId=key_id)  # a cancelled deletion leaves the key Disabled"),
        ("solution", "rescued_key_id = kms.create_key()['KeyMetadata']['Arn']\n"
                     "kms.schedule_key_deletion(KeyId=rescued_key_id, PendingWindowInDays=7)\n"
                     "rescue(rescued_key_id)\n"
                     "rescued_ciphertext = kms.encrypt(KeyId=rescued_key_id, Plaintext=b'saved in time')['CiphertextBlob']"),
    ],
    "07-deletion-completes": [
        ("solution", "import kms_course\n\n"
                     "lost_key_id = kms.create_key()['KeyMetadata']['Arn']\n"
                     "lost_ciphertext = kms.encrypt(KeyId=lost_key_id, Plaintext=b'lost forever')['CiphertextBlob']\n"
                     "kms.schedule_key_deletion(KeyId=lost_key_id, PendingWindowInDays=7)\n"
                     "kms_course.advance(days=7, hours=1)  # just past the DeletionDate"),
        ("solution", "from botocore.exceptions import ClientError\n\n"
                     "try:\n"
                     "    kms.decrypt(CiphertextBlob=lost_ciphertext, KeyId=lost_key_id)\n"
                     "except ClientError as error:\n"
                     "    lost_error_code = error.response['Error']['Code']"),
    ],
    # ---- 08: key policies and grants
    "08-key-administrator": [("solution", (
        "admin_actions = ['kms:' + a for a in (\n"
        "    'DescribeKey', 'GetKeyPolicy', 'PutKeyPolicy', 'ListResourceTags', 'ListGrants',\n"
        "    'EnableKey', 'DisableKey', 'EnableKeyRotation', 'DisableKeyRotation', 'GetKeyRotationStatus',\n"
        "    'UpdateKeyDescription', 'RevokeGrant', 'TagResource', 'UntagResource',\n"
        "    'ScheduleKeyDeletion', 'CancelKeyDeletion')]\n"
        "admin_statement = {'Sid': 'Key administrators', 'Effect': 'Allow',\n"
        "                   'Principal': {'AWS': admin_role}, 'Action': admin_actions, 'Resource': '*'}\n"
        "admin_key_id = kms.create_key(Policy=key_policy(admin_statement))['KeyMetadata']['Arn']"))],
    "08-application-role": [
        ("added", "def allow(role, actions, sid):\n"
                  "    return {'Sid': sid, 'Effect': 'Allow', 'Principal': {'AWS': role},\n"
                  "            'Action': actions, 'Resource': '*',\n"
                  "            'Condition': {'StringEquals': {'kms:EncryptionContext:store': 'company-documents'}}}"),
        ("solution", "app_key_id = kms.create_key(Policy=key_policy(\n"
                     "    allow(app_role, ['kms:GenerateDataKey', 'kms:Encrypt'], 'UploadService'))\n"
                     ")['KeyMetadata']['KeyId']"),
    ],
    "08-reader-role": [("solution", (
        "reader_statement = {'Sid': 'Readers', 'Effect': 'Allow', 'Principal': {'AWS': [reader_role]},\n"
        "                    'Action': ['kms:Decrypt'], 'Resource': '*',\n"
        "                    'Condition': {'StringEquals': {'kms:EncryptionContext:store': store_context['store']}}}\n"
        "policy = json.loads(key_policy(reader_statement))\n"
        "reader_key_id = kms.create_key()['KeyMetadata']['Arn']\n"
        "kms.put_key_policy(KeyId=reader_key_id, PolicyName='default', Policy=json.dumps(policy))"))],
    "08-give-grant": [
        ("solution", "grant_key_id = kms.create_key()['KeyMetadata']['Arn']"),
        ("solution", "response = kms.create_grant(\n"
                     "    KeyId=grant_key_id, GranteePrincipal=auditor_role, RetiringPrincipal=auditor_role,\n"
                     "    Operations=['Decrypt'], Constraints={'EncryptionContextSubset': dict(store_context)})\n"
                     "audit_grant_id, audit_grant_token = response['GrantId'], response['GrantToken']"),
    ],
    "08-retire-grant": [("solution", (
        "auditor_kms.retire_grant(GrantToken=audit_grant_token)  # the lesson's client for the auditor"))],
    # ---- 09: asymmetric keys, signatures and MACs. Sign and GenerateMac take a key ID, key ARN,
    # alias name or alias ARN (https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html);
    # a DIGEST message is the hash the algorithm names, not hashed again, so ECDSA_SHA_256 over
    # SHA-256(note) is a signature of the note itself (API_Sign, MessageType); every RSA key spec
    # signs with RSASSA_PSS_SHA_256 (https://docs.aws.amazon.com/kms/latest/developerguide/asymmetric-key-specs.html);
    # GenerateDataKeyPairWithoutPlaintext takes an optional EncryptionContext, which Decrypt then
    # needs (https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPairWithoutPlaintext.html).
    "09-sign-release": [("solution", _LESSON_CLIENT + (
        "import hashlib\n\n"
        "release = my_kms.create_key(KeyUsage='SIGN_VERIFY', KeySpec='ECC_NIST_P256')['KeyMetadata']\n"
        "my_kms.create_alias(AliasName='alias/release-signing', TargetKeyId=release['KeyId'])\n"
        "release_key_id = release['Arn']  # the key ARN names the key too\n"
        "note_digest = hashlib.new('sha256', b'kms-course 9.0 is released').digest()\n"
        "release_signature = my_kms.sign(KeyId='alias/release-signing', Message=note_digest,\n"
        "                                MessageType='DIGEST',  # I hashed it: KMS does not hash again\n"
        "                                SigningAlgorithm='ECDSA_SHA_256')['Signature']"))],
    "09-verify-offline": [
        ("added", "from cryptography.hazmat.primitives.asymmetric import utils\n\n\n"
                  "def is_genuine(public_key, message, signature):\n"
                  "    \"\"\"True when signature is the supplier's ECDSA_SHA_256 signature of message.\"\"\"\n"
                  "    digest = hashlib.sha256(bytes(message)).digest()\n"
                  "    try:\n"
                  "        public_key.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))\n"
                  "    except InvalidSignature:\n"
                  "        return False\n"
                  "    return True"),
        ("solution", "vendor_arn = kms.describe_key(KeyId=vendor_key_id)['KeyMetadata']['Arn']\n"
                     "vendor_public_key = kms.get_public_key(KeyId=vendor_arn)['PublicKey']  # once\n"
                     "supplier_key = load_der_public_key(vendor_public_key)\n"
                     "genuine = [is_genuine(supplier_key, m, s) for m, s in zip(vendor_messages, vendor_signatures)]"),
    ],
    "09-sign-digest": [
        ("solution", "from cryptography.hazmat.primitives import hashes as h\n\n"
                     "report_key_id = kms.create_key(KeyUsage='SIGN_VERIFY', KeySpec='RSA_4096')['KeyMetadata']['Arn']\n"
                     "hasher = h.Hash(h.SHA256())\n"
                     "for start in range(0, len(big_report), 1000):  # hashed in pieces, as for a big file\n"
                     "    hasher.update(big_report[start:start + 1000])\n"
                     "report_digest = hasher.finalize()"),
        ("solution", "report_signature = kms.sign(KeyId=report_key_id, Message=report_digest,\n"
                     "                            MessageType='DIGEST',\n"
                     "                            SigningAlgorithm='RSASSA_PSS_SHA_256')['Signature']"),
    ],
    "09-mac-session": [
        ("added", "from botocore.exceptions import ClientError\n\n\n"
                  "def refusal_code(call, **arguments):\n"
                  "    \"\"\"The error code KMS answers call(**arguments) with, or None.\"\"\"\n"
                  "    try:\n"
                  "        call(**arguments)\n"
                  "    except ClientError as error:\n"
                  "        return error.response['Error']['Code']\n"
                  "    return None"),
        ("solution", "session_cookie = b'session=42;user=alice'\n"
                     "cookie_key = kms.create_key(KeyUsage='GENERATE_VERIFY_MAC', KeySpec='HMAC_256')['KeyMetadata']\n"
                     "kms.create_alias(AliasName='alias/session-cookies', TargetKeyId=cookie_key['Arn'])\n"
                     "mac_key_id = cookie_key['Arn']\n"
                     "session_mac = kms.generate_mac(KeyId='alias/session-cookies', Message=session_cookie,\n"
                     "                               MacAlgorithm='HMAC_SHA_256')['Mac']\n"
                     "forged_error_code = refusal_code(kms.verify_mac, KeyId='alias/session-cookies',\n"
                     "                                 Message=b'session=42;user=admin', Mac=session_mac,\n"
                     "                                 MacAlgorithm='HMAC_SHA_256')"),
    ],
    "09-rsa-limit": [("solution", _LESSON_CLIENT + (
        "oaep_sha_256_limit = {'RSA_2048': 190, 'RSA_3072': 318, 'RSA_4096': 446}  # bytes, Encrypt\n"
        "spec = min((limit, s) for s, limit in oaep_sha_256_limit.items() if limit >= len(api_secret))[1]\n"
        "rsa_key_id = my_kms.create_key(KeyUsage='ENCRYPT_DECRYPT', KeySpec=spec)['KeyMetadata']['KeyId']\n"
        "my_kms.create_alias(AliasName='alias/partner-secret', TargetKeyId=rsa_key_id)\n"
        "rsa_ciphertext = my_kms.encrypt(KeyId='alias/partner-secret', Plaintext=api_secret,\n"
        "                                EncryptionAlgorithm='RSAES_OAEP_SHA_256')['CiphertextBlob']"))],
    "09-data-key-pair": [
        ("solution", "wrapping = kms.create_key(KeyUsage='ENCRYPT_DECRYPT', KeySpec='SYMMETRIC_DEFAULT')['KeyMetadata']\n"
                     "pair_kms_key_id = wrapping['Arn']\n"
                     "kms.create_alias(AliasName='alias/device-pairs', TargetKeyId=wrapping['KeyId'])"),
        ("solution", "sealed = kms.generate_data_key_pair_without_plaintext(\n"
                     "    KeyId='alias/device-pairs', KeyPairSpec='ECC_NIST_P256',\n"
                     "    EncryptionContext={'device': 'sensor-17'})  # Decrypt will need it too\n"
                     "pair_public_key, pair_private_ciphertext = sealed['PublicKey'], sealed['PrivateKeyCiphertextBlob']\n"
                     "assert 'PrivateKeyPlaintext' not in sealed"),
    ],
    # ---- 10: capstone (the sharing exercises as rewritten by 02:50)
    "10-store-setup": [("solution", (
        "cap_bucket = 'capstone-docs'\n"
        "s3.create_bucket(Bucket=cap_bucket)\n"
        "store_key = kms.create_key()['KeyMetadata']\n"
        "kms.create_alias(AliasName='alias/capstone-docs', TargetKeyId=store_key['Arn'])  # ID or ARN\n"
        "cap_key_id = store_key['KeyId']"))],
    "10-put-document": [
        ("added", "import base64, json, secrets\n"
                  "from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n\n\n"
                  "def as_text(value):\n"
                  "    return base64.b64encode(value).decode('ascii')\n\n\n"
                  "def seal(kms, key_id, context, body):\n"
                  "    fresh = kms.generate_data_key(KeyId=key_id, NumberOfBytes=32, EncryptionContext=context)\n"
                  "    nonce = secrets.token_bytes(12)\n"
                  "    aad = json.dumps(context, sort_keys=True).encode('utf-8')\n"
                  "    return fresh['CiphertextBlob'], nonce, AESGCM(fresh.pop('Plaintext')).encrypt(nonce, body, aad)"),
        ("solution", "def put_document(kms, s3, bucket, key_id, doc_id, owner, body):\n"
                     "    edk, nonce, ciphertext = seal(kms, key_id, {'owner': owner, 'doc_id': doc_id}, body)\n"
                     "    s3.put_object(Bucket=bucket, Key=f'mine/{doc_id}', Body=ciphertext,\n"
                     "                  Metadata={'encrypted-data-key': as_text(edk), 'nonce': as_text(nonce)})\n\n\n"
                     "for doc_id, owner, body in [\n"
                     "        ('contract-7', 'alice', b'Contract 7: delivery of 40 pallets by June'),\n"
                     "        ('payroll-3', 'bob', b'Payroll March: 12 employees, total 61,200 EUR')]:\n"
                     "    put_document(kms, s3, practice_bucket, practice_key_id, doc_id, owner, body)"),
    ],
    "10-read-document": [
        ("solution", "import base64, json\n\n"
                     "head = s3.head_object(Bucket=practice_bucket, Key='mine/memo-1')['Metadata']\n"
                     "sealed_memo = s3.get_object(Bucket=practice_bucket, Key='mine/memo-1')['Body'].read()"),
        ("solution", "from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n\n"
                     "context = dict(owner='carol', doc_id='memo-1')\n"
                     "plain_key = kms.decrypt(CiphertextBlob=base64.b64decode(head['encrypted-data-key']),\n"
                     "                        KeyId=practice_key_id, EncryptionContext=context)['Plaintext']\n"
                     "memo_text = AESGCM(plain_key).decrypt(base64.b64decode(head['nonce']), sealed_memo,\n"
                     "                                      json.dumps(context, sort_keys=True).encode())\n"
                     "plain_key = None"),
    ],
    "10-share-document": [
        ("added", "def grants_of(key_id, grantee):\n"
                  "    return kms.list_grants(KeyId=key_id, GranteePrincipal=grantee)['Grants']"),
        ("solution", "import base64, json\n"
                     "from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n"
                     "import kms_course\n\n"
                     "memo_context = {'owner': 'carol', 'doc_id': 'memo-1'}\n"
                     "for old in grants_of(practice_key_id, dave_role):  # what an earlier run gave\n"
                     "    kms.revoke_grant(KeyId=practice_key_id, GrantId=old['GrantId'])\n"
                     "shared = kms.create_grant(KeyId=practice_key_id, GranteePrincipal=dave_role,\n"
                     "                          Operations=['Decrypt'],\n"
                     "                          Constraints={'EncryptionContextSubset': memo_context})\n"
                     "dave_grant_id = shared['GrantId']\n"
                     "as_dave = kms_course.client_as(dave_role)\n"
                     "meta = s3.head_object(Bucket=practice_bucket, Key='mine/memo-1')['Metadata']\n"
                     "key_for_dave = as_dave.decrypt(CiphertextBlob=base64.b64decode(meta['encrypted-data-key']),\n"
                     "                               KeyId=practice_key_id, EncryptionContext=memo_context,\n"
                     "                               GrantTokens=[shared['GrantToken']])['Plaintext']\n"
                     "body = s3.get_object(Bucket=practice_bucket, Key='mine/memo-1')['Body'].read()\n"
                     "dave_memo_text = AESGCM(key_for_dave).decrypt(\n"
                     "    base64.b64decode(meta['nonce']), body, json.dumps(memo_context, sort_keys=True).encode())\n"
                     "del key_for_dave"),
    ],
    "10-docstore": [
        ("solution", "from kms_course.envelope.docstore import DocumentStore\n\n"
                     "store = DocumentStore(kms, s3, practice_bucket, practice_key_id)\n"
                     "store.put('plan-2025', 'erin', 'Quarterly plan: open the Lisbon office'.encode())\n"
                     "for reader in (frank_role, grace_role):\n"
                     "    store.share('plan-2025', reader)"),
        ("solution", "frank_reads = store.get('plan-2025', frank_role)\n"
                     "store.revoke('plan-2025', grace_role)"),
    ],
    "10-who-read": [("solution", (
        "from kms_course.sandbox import trail as course_trail\n\n"
        "wanted = {'owner': 'henry', 'doc_id': 'ledger-9'}\n"
        "\n\n"
        "def reader_of(event):\n"
        "    who = event['userIdentity']\n"
        "    return who.get('sessionContext', {}).get('sessionIssuer', {}).get('arn') or who['arn']\n"
        "\n\n"
        "ledger_readers = sorted({\n"
        "    reader_of(e) for e in course_trail.trail(key_id=practice_key_id, event_name='Decrypt')\n"
        "    if not e.get('errorCode') and (e.get('requestParameters') or {}).get('encryptionContext') == wanted})"))],
}
