"""``kms-course server start|stop|status``: the moto server of the ``moto-server`` backend.

See :mod:`kms_course.server` for what the server is and where its address is recorded.
"""

from __future__ import annotations

import argparse

from kms_course import server


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")


def run(args: argparse.Namespace) -> int:
    if args.action == "start":
        url = server.start(port=args.port)
        print(f"Course moto server running at {url}")
        print("Use it in a lesson with KMS_COURSE_BACKEND=moto-server (e.g. `kms-course lab --backend moto-server`).")
        return 0
    if args.action == "stop":
        print("Course moto server stopped." if server.stop() else "No course moto server was running.")
        return 0
    url = server.running_url()
    print(f"Course moto server running at {url}" if url else "No course moto server is running.")
    return 0 if url else 1
