"""Cost of the course server's saved state: milliseconds per request, with and without it.

Starts ``python -m kms_course.sandbox.server`` twice on free loopback ports (once with ``--state``
in a temporary folder, once without) and times CreateKey, Encrypt and a 1 KiB S3 PutObject through a
boto3 client, after ``KEYS`` keys exist (the snapshot grows with the data).

Run: ``python benchmarks/bench_server_state.py [KEYS] [N]`` (default 50 keys, 100 calls each).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import socket
import urllib.request

# No kms_course import here: its sandbox guard would refuse these plain clients.


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(state: str | None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    command = [sys.executable, "-m", "kms_course.sandbox.server", "--port", str(port)]
    if state:
        command += ["--state", state]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=0.5)
            return proc, url
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start")


def _median_ms(call, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def measure(state: str | None, keys: int, n: int) -> dict[str, float]:
    """Median ms per CreateKey, Encrypt and PutObject on a server with or without ``state``."""
    import boto3

    proc, url = _serve(state)
    try:
        kms = boto3.client("kms", endpoint_url=url, region_name="us-east-1")
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        for _ in range(keys):
            key = kms.create_key()["KeyMetadata"]["KeyId"]
        s3.create_bucket(Bucket="bench-bucket")
        counter = iter(range(10**9))
        return {
            "CreateKey": _median_ms(kms.create_key, n),
            "Encrypt": _median_ms(lambda: kms.encrypt(KeyId=key, Plaintext=b"x" * 32), n),
            "PutObject 1 KiB": _median_ms(
                lambda: s3.put_object(Bucket="bench-bucket", Key=f"o{next(counter)}", Body=b"y" * 1024), n),
        }
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    keys = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing")
    plain = measure(None, keys, n)
    with tempfile.TemporaryDirectory() as folder:
        kept = measure(folder, keys, n)
    for name in plain:
        print(f"{name:16} in memory {plain[name]:6.2f} ms   saved state {kept[name]:6.2f} ms")


if __name__ == "__main__":
    main()
