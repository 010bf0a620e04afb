"""Median time of a symmetric ``create_key()``: plain moto 5.2.5 against the course sandbox.

Plain moto runs in a fresh subprocess that never imports ``kms_course`` (so neither the rules nor
the lazy RSA key pair patch are active: moto builds an unused RSA-2048 key pair per key). The
sandbox is measured in this process through ``kms_course.sandbox.start.start_sandbox("moto")``.

Run: ``python benchmarks/bench_create_key.py [N]`` (default N = 200 keys each). Prints medians in
milliseconds and their ratio. The issue's target: sandbox median under 5 ms.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def time_create_key(kms: Any, n: int) -> list[float]:
    """Seconds per ``kms.create_key()`` call, for ``n`` calls after one warm-up call."""
    kms.create_key()  # warm-up
    times = []
    for _ in range(n):
        t = time.perf_counter()
        kms.create_key()
        times.append(time.perf_counter() - t)
    return times


#: Plain moto, run by :func:`plain_moto` in a subprocess; argv: N, this file's folder (so that
#: :func:`time_create_key` is imported from this module, which imports no ``kms_course`` itself).
PLAIN_MOTO = r"""
import json, os, sys
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                  AWS_DEFAULT_REGION="us-east-1")
import boto3
from moto import mock_aws
sys.path.insert(0, sys.argv[2])
from bench_create_key import time_create_key
with mock_aws():
    print(json.dumps(time_create_key(boto3.client("kms", region_name="us-east-1"), int(sys.argv[1]))))
"""


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def plain_moto(n: int) -> list[float]:
    """Seconds per create_key in a subprocess running moto without kms_course."""
    out = subprocess.run(
        [sys.executable, "-c", PLAIN_MOTO, str(n), str(Path(__file__).resolve().parent)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def sandbox(n: int) -> list[float]:
    """Seconds per create_key in the course sandbox (moto backend, rules on)."""
    from kms_course.sandbox.start import start_sandbox

    return time_create_key(start_sandbox("moto", quiet=True), n)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Median symmetric create_key: plain moto vs the course sandbox.")
    parser.add_argument("n", nargs="?", type=int, default=200, help="keys to create on each side (default 200)")
    n = parser.parse_args().n
    moto_ms = median_ms(plain_moto(n))
    sandbox_ms = median_ms(sandbox(n))
    print(f"symmetric create_key, median of {n}:")
    print(f"  plain moto 5.2.5 : {moto_ms:8.2f} ms")
    print(f"  course sandbox   : {sandbox_ms:8.2f} ms  (target < 5 ms)")
    print(f"  ratio moto/sandbox: {moto_ms / sandbox_ms:.1f}x")


if __name__ == "__main__":
    main()
