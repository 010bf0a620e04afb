"""Module-scoped fixtures the document store tests share: the in-kernel sandbox and a bucket."""

from __future__ import annotations

import pytest

from kms_course.sandbox import start as sandbox


def kms_and_bucket(bucket: str):
    """``(kms, s3)`` fixtures: the moto sandbox's KMS client, and an S3 client whose bucket
    ``bucket`` exists. Assign them to ``kms`` and ``s3`` in a test module."""

    @pytest.fixture(scope="module")
    def kms():
        return sandbox.start_sandbox("moto", quiet=True)

    @pytest.fixture(scope="module")
    def s3(kms):
        client = sandbox.client("s3")
        client.create_bucket(Bucket=bucket)
        return client

    return kms, s3
