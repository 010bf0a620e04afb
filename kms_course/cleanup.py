"""``kms-course cleanup``: on real AWS, schedule deletion of the keys the course created.

In the ``aws`` backend every ``CreateKey`` of the course carries the tag
``kms-course=created-by-course`` (:data:`kms_course.sandbox.COURSE_TAG_KEY`). This command lists
the account's keys in the Region, keeps only customer managed keys with that tag, and schedules
their deletion (a 7-30 day waiting period, default 7; ScheduleKeyDeletion,
https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html). It never touches
a key without the tag, an AWS managed key, or a key already pending deletion.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from kms_course.errors import CourseError
from kms_course.sandbox import COURSE_TAG_KEY, COURSE_TAG_VALUE


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


def run(args: argparse.Namespace) -> int:
    from kms_course.sandbox import start_sandbox

    kms = start_sandbox(args.backend, region=args.region)
    arns = cleanup(kms, args.days, args.dry_run)
    verb = "Would schedule" if args.dry_run else "Scheduled"
    for arn in arns:
        print(f"{verb} deletion in {args.days} days: {arn}")
    print(f"{len(arns)} course key(s).")
    return 0
