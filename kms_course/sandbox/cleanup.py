"""``kms-course cleanup``: on real AWS, schedule deletion of the keys the course created.

In the ``aws`` backend every ``CreateKey`` of the course carries the tag
``kms-course=created-by-course`` (:data:`kms_course.sandbox.start.COURSE_TAG_KEY`). This command
lists the account's keys in the Region, keeps only customer managed keys with that tag, and
schedules their deletion (a 7-30 day waiting period, default 7; ScheduleKeyDeletion,
https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html). It never touches
a key without the tag, an AWS managed key, or a key already pending deletion.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from kms_course.errors import CourseError
from kms_course.sandbox.start import COURSE_TAG_KEY, COURSE_TAG_VALUE


def course_keys(kms) -> Iterator[dict]:
    """Yield the KeyMetadata (dict) of every customer managed key tagged by the course."""
    for page in kms.get_paginator("list_keys").paginate():
        for entry in page["Keys"]:
            meta = kms.describe_key(KeyId=entry["KeyId"])["KeyMetadata"]
            if meta.get("KeyManager") != "CUSTOMER":
                continue
            tags = kms.list_resource_tags(KeyId=entry["KeyId"]).get("Tags", [])
            if any(t["TagKey"] == COURSE_TAG_KEY and t["TagValue"] == COURSE_TAG_VALUE for t in tags):
                yield meta


def cleanup(kms, window_days: int = 7, dry_run: bool = False) -> list[str]:
    """Schedule deletion of the course's keys; return the key ARNs scheduled (list of str).

    Args:
        kms: a boto3 KMS client.
        window_days: waiting period in days, 7 to 30.
        dry_run: only list what would be scheduled.

    Raises:
        CourseError: ``window_days`` outside 7-30.
    """
    if not 7 <= window_days <= 30:
        raise CourseError(f"--days must be between 7 and 30 (got {window_days}).")
    scheduled = []
    for meta in course_keys(kms):
        if meta["KeyState"] == "PendingDeletion":
            continue
        if not dry_run:
            kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=window_days)
        scheduled.append(meta["Arn"])
    return scheduled


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="AWS Region (default: your configured one)")
    parser.add_argument("--days", type=int, default=7, help="waiting period, 7-30 days (default 7)")
    parser.add_argument("--dry-run", action="store_true", help="only list the keys")
    parser.add_argument(
        "--backend", default="aws", choices=("aws", "moto-server"),
        help="aws (default) or the course's moto server, to try it offline",
    )


#: Short network limits: with no network or a wrong endpoint, cleanup ends in seconds, not minutes
#: (botocore's defaults are 60 s per read and several retries;
#: https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html).
CLIENT_CONFIG = {"connect_timeout": 3, "read_timeout": 5, "retries": {"total_max_attempts": 2, "mode": "standard"}}


def run(args: argparse.Namespace) -> int:
    """List or schedule the course's keys; print one line per key and a count.

    Raises:
        CourseError: ``--days`` outside 7-30; no network, a refused or timed-out connection, no
            or invalid credentials, or an AWS error (the message names it).
        SandboxError: no Region, no credentials, or no course server for ``--backend moto-server``.
    """
    import botocore.config
    import botocore.exceptions

    from kms_course.sandbox import start as sandbox

    if not 7 <= args.days <= 30:
        raise CourseError(f"--days must be between 7 and 30 (got {args.days}).")
    sandbox.start_sandbox(args.backend, region=args.region)
    kms = sandbox.kms_client(config=botocore.config.Config(**CLIENT_CONFIG))
    try:
        arns = cleanup(kms, args.days, args.dry_run)
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as error:
        raise CourseError(
            f"cannot reach KMS in {sandbox.region()} ({type(error).__name__}): check your network "
            "connection and try again; no key was changed."
        ) from None
    except botocore.exceptions.NoCredentialsError:
        raise CourseError("no AWS credentials were found: configure them with `aws configure`.") from None
    except botocore.exceptions.ClientError as error:
        info = error.response.get("Error", {})
        raise CourseError(
            f"AWS refused {error.operation_name}: {info.get('Code')}: {info.get('Message')} "
            "(check your credentials and their permissions)."
        ) from None
    verb = "Would schedule" if args.dry_run else "Scheduled"
    for arn in arns:
        print(f"{verb} deletion in {args.days} days: {arn}")
    print(f"{len(arns)} course key(s).")
    return 0
