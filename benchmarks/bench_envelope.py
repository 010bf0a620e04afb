"""Throughput and peak memory of kms_course.envelope against its baselines, side by side.

Usage::

    python benchmarks/bench_envelope.py                      # 1 MiB, 64 MiB, 512 MiB
    python benchmarks/bench_envelope.py --sizes 1,64 --repeat 3

Each case runs in its own subprocess (so peak memory, ``resource.getrusage().ru_maxrss``, is that
case's alone; it includes the interpreter, boto3 and moto, see the ``idle`` row) against the
in-process moto sandbox, and prints the median of ``--repeat`` runs. Cases:

* ``copy``: ``shutil.copyfile`` (the disk baseline for the file path);
* ``aesgcm_into`` / ``aesgcm_oneshot``: cryptography's AES-256-GCM into a reused preallocated
  buffer / one-shot ``encrypt`` (the baselines for the in-memory path);
* ``ours_encrypt`` / ``ours_decrypt``: :func:`envelope.encrypt` / :func:`envelope.decrypt`
  (up to ``MAX_IN_MEMORY_BYTES``), which return fresh ``bytes``;
* ``ours_encrypt_into`` / ``ours_decrypt_into``: :func:`envelope.encrypt_into` /
  :func:`envelope.decrypt_into` into one reused buffer, like ``aesgcm_into``;
* ``ours_file_encrypt`` / ``ours_file_decrypt``: :func:`envelope.encrypt_file` / ``decrypt_file``;
* ``sdk_default_file``: the AWS Encryption SDK's streaming encrypt with its default settings
  (4096-byte frames, signed suite 0x0578), 64 KiB reads.

Each case runs once untimed before the timed runs (warm-up: imports, first-call caches, the
page cache, moto's first request), then ``--repeat`` timed runs. During the timed runs every
botocore API call (``BaseClient._make_api_call``, so GenerateDataKey / Decrypt of ours and of
the Encryption SDK's own clients alike) is timed; the ``KMS %`` column is the median share of a
run's time spent in those round trips (here to the in-process moto sandbox, not a real AWS
Region), and ``bound`` says ``KMS call`` when that share is at least half, else ``local``
(AES-GCM, copying, file I/O): measured per row, not assumed.

File cases read a file in /tmp (or ``--workdir``) that is in the page cache; the output file is
deleted before each run, outside the timing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

MiB = 1024 * 1024
CASES = (
    "idle",
    "copy",
    "aesgcm_into",
    "aesgcm_oneshot",
    "ours_encrypt",
    "ours_decrypt",
    "ours_encrypt_into",
    "ours_decrypt_into",
    "sdk_default_file",
    "ours_file_encrypt",
    "ours_file_decrypt",
)
CTX = {"purpose": "benchmark"}


def _kms():
    from kms_course.sandbox.start import start_sandbox

    kms = start_sandbox("moto", quiet=True)
    return kms, kms.create_key()["KeyMetadata"]["Arn"]


KMS_SECONDS = [0.0]  # time spent in botocore API calls (see _count_kms_calls)
SHARES: list[float] = []  # per timed run: KMS_SECONDS / run time


def _count_kms_calls() -> None:
    """Time every botocore API call made in this process (all clients, the SDK's included)."""
    from botocore.client import BaseClient

    call = BaseClient._make_api_call

    def timed_call(self, operation_name, api_params):
        start = time.perf_counter()
        try:
            return call(self, operation_name, api_params)
        finally:
            KMS_SECONDS[0] += time.perf_counter() - start

    BaseClient._make_api_call = timed_call


def _timed(setup, run, repeat: int) -> list[float]:
    setup()  # warm-up run, not counted
    run()
    times = []
    for _ in range(repeat):
        setup()
        KMS_SECONDS[0] = 0.0
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        SHARES.append(KMS_SECONDS[0] / elapsed)
    return times


def _remove(path: str):
    return lambda: os.path.exists(path) and os.unlink(path)


def run_case(case: str, size: int, repeat: int, workdir: str) -> dict:
    """Run one case in this process; return ``{"median_s": float | None, "peak_mib": float,
    "kms_share": float | None}`` (the median share of a timed run spent in KMS calls)."""
    _count_kms_calls()
    src = os.path.join(workdir, f"plain-{size}")
    out = os.path.join(workdir, f"out-{case}-{size}")
    nothing = lambda: None  # noqa: E731
    times: list[float] = []
    if case == "idle":  # interpreter + boto3 + moto + one KMS key: the memory floor
        _kms()
    elif case == "copy":
        times = _timed(_remove(out), lambda: shutil.copyfile(src, out), repeat)
    elif case in ("aesgcm_into", "aesgcm_oneshot"):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        data, cipher, nonce = os.urandom(size), AESGCM(AESGCM.generate_key(256)), os.urandom(12)
        if case == "aesgcm_into":
            buf = bytearray(size + 16)
            times = _timed(nothing, lambda: cipher.encrypt_into(nonce, data, None, buf), repeat)
        else:
            times = _timed(nothing, lambda: cipher.encrypt(nonce, data, None), repeat)
    elif case in ("ours_encrypt", "ours_decrypt"):
        from kms_course import envelope

        if size <= envelope.MAX_IN_MEMORY_BYTES:
            kms, arn = _kms()
            data = os.urandom(size)
            if case == "ours_encrypt":
                times = _timed(nothing, lambda: envelope.encrypt(kms, arn, data, CTX), repeat)
            else:
                blob = envelope.encrypt(kms, arn, data, CTX)
                times = _timed(nothing, lambda: envelope.decrypt(kms, blob, CTX), repeat)
    elif case in ("ours_encrypt_into", "ours_decrypt_into"):
        from kms_course import envelope

        if size <= envelope.MAX_IN_MEMORY_BYTES:
            kms, arn = _kms()
            data = os.urandom(size)
            buf = bytearray(envelope.max_envelope_size(size, CTX))
            if case == "ours_encrypt_into":
                times = _timed(
                    nothing, lambda: envelope.encrypt_into(kms, arn, data, CTX, buf), repeat
                )
            else:
                blob = envelope.encrypt(kms, arn, data, CTX)
                times = _timed(
                    nothing, lambda: envelope.decrypt_into(kms, blob, CTX, buf), repeat
                )
    elif case in ("ours_file_encrypt", "ours_file_decrypt"):
        from kms_course import envelope

        kms, arn = _kms()
        if case == "ours_file_encrypt":
            times = _timed(
                _remove(out), lambda: envelope.encrypt_file(kms, arn, src, out, CTX), repeat
            )
        else:
            enc = out + ".enc"
            envelope.encrypt_file(kms, arn, src, enc, CTX)
            times = _timed(
                _remove(out), lambda: envelope.decrypt_file(kms, enc, out, CTX), repeat
            )
            os.unlink(enc)
    elif case == "sdk_default_file":
        import aws_encryption_sdk
        from aws_encryption_sdk.key_providers.kms import StrictAwsKmsMasterKeyProvider

        kms, arn = _kms()
        client = aws_encryption_sdk.EncryptionSDKClient()
        provider = StrictAwsKmsMasterKeyProvider(key_ids=[arn])

        def sdk_encrypt() -> None:
            with open(src, "rb") as source, open(out, "wb") as dest:
                with client.stream(mode="e", source=source, key_provider=provider) as stream:
                    while chunk := stream.read(64 * 1024):
                        dest.write(chunk)

        times = _timed(_remove(out), sdk_encrypt, repeat)
    if os.path.exists(out):
        os.unlink(out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"median_s": statistics.median(times) if times else None, "peak_mib": peak,
            "kms_share": statistics.median(SHARES) if SHARES else None}


def _in_subprocess(case: str, size: int, repeat: int, workdir: str) -> dict:
    command = [sys.executable, __file__, "--case", case, "--size", str(size)]
    command += ["--repeat", str(repeat), "--workdir", workdir]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:6.2f}x" if a and b else "      -"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,64,512", help="sizes in MiB, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median)")
    parser.add_argument("--workdir", default=None, help="folder for the test files (default /tmp)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case, args.size, args.repeat, args.workdir)))
        return 0
    workdir = args.workdir or tempfile.mkdtemp(prefix="bench-envelope-")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, files in {workdir}")
    header = (f"{'size':>8} {'case':<18} {'MiB/s':>9} {'peak MiB':>9} {'KMS %':>6} "
              f"{'bound':<9} ratios")
    print(header)
    print("-" * len(header))
    for size_mib in (int(s) for s in args.sizes.split(",")):
        size = size_mib * MiB
        src = os.path.join(workdir, f"plain-{size}")
        with open(src, "wb") as f:
            for _ in range(size_mib):
                f.write(os.urandom(MiB))
        speed = {}
        for case in CASES:
            result = _in_subprocess(case, size, args.repeat, workdir)
            median = result["median_s"]
            speed[case] = size / MiB / median if median else None
            ratios = ""
            if case.startswith("ours_file") or case == "sdk_default_file":
                ratios = f"vs copy {_ratio(speed[case], speed.get('copy'))}"
            if case.startswith("ours_file"):
                ratios += f"  vs SDK default {_ratio(speed[case], speed.get('sdk_default_file'))}"
            if case.startswith("ours_e") or case.startswith("ours_d") or case == "aesgcm_oneshot":
                ratios = f"vs encrypt_into {_ratio(speed[case], speed.get('aesgcm_into'))}"
            shown = f"{speed[case]:9.0f}" if speed[case] else f"{'-':>9}"
            share = result.get("kms_share")
            kms = f"{share * 100:5.1f}%" if share is not None and median else f"{'-':>6}"
            bound = "-" if share is None or not median else (
                "KMS call" if share >= 0.5 else "local")
            print(f"{size_mib:>5} MiB {case:<18} {shown} {result['peak_mib']:9.0f} {kms} "
                  f"{bound:<9} {ratios}")
        os.unlink(src)
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
