"""``kms-course server start|stop|status|reset``: the moto server of the ``moto-server`` backend.

See :mod:`kms_course.sandbox.server` for what the server is, where its data is kept and how ``stop``
checks that the recorded process is the course server before signalling it.
"""

from __future__ import annotations

import argparse
import os

from kms_course.sandbox import server


def port_number(text: str) -> int:
    """argparse type: a TCP port, a whole number from 1 to 65535.

    Raises:
        argparse.ArgumentTypeError: not a whole number, or out of range.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (e.g. 5000)") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port: choose one from 1024 to 65535")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action", choices=("start", "stop", "status", "reset"),
        help="start (keeps the saved keys), stop, status, or reset (delete every key and object)",
    )
    parser.add_argument(
        "--port", type=port_number,
        help="port on 127.0.0.1 (default: the previous server's, when free, else a free one)",
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "start":
        url = server.start(port=args.port)
        print(f"Course moto server running at {url} (data kept in {server.data_file()})")
        print("Use it in a lesson with KMS_COURSE_BACKEND=moto-server (e.g. `kms-course lab --backend moto-server`).")
        return 0
    if args.action == "stop":
        outcome = server.stop()
        print({
            "stopped": "Course moto server stopped; its keys and objects are kept for the next start.",
            "stale": "No course moto server was running: its record was stale (the process is gone "
                     "or is another program, which was not signalled) and is removed.",
            "none": "No course moto server was running.",
        }[outcome])
        return 0
    if args.action == "reset":
        where = server.reset()
        print("Emptied the running course moto server: every key, alias and object is deleted."
              if where == "running" else
              "Deleted the course moto server's saved keys and objects; the next start is empty.")
        return 0
    if os.environ.get(server.ENV_URL):  # an explicit address, as the lessons would use it
        url = server.running_url()
        print(f"Course moto server running at {url}" if url else f"Nothing answers at ${server.ENV_URL}.")
        return 0 if url else 1
    status = server.inspect()
    print(status.message)
    return 0 if status.state == "running" else 1
