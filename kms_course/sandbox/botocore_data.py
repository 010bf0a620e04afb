"""botocore's data files, parsed once per process: one loader for the sessions the sandbox makes.

botocore parses its JSON data (service models, endpoint rules, Regions) once per *loader*, and
every session makes a loader of its own, so a process with several sessions (boto3's default
one, the one moto lists its Regions with, the one the sandbox's rules read the KMS model from)
parses ``endpoints.json`` (~7 MiB of objects) once per session. Sessions made or adopted here
share one loader instead (``Session.register_component("data_loader", ...)``,
https://botocore.amazonaws.com/v1/documentation/api/latest/reference/session.html). botocore
treats what a loader returns as read-only: one session already hands the same objects to all
its clients.
"""

from __future__ import annotations

import functools

import botocore.loaders
import botocore.model
import botocore.session


@functools.lru_cache(maxsize=1)
def loader() -> botocore.loaders.Loader:
    """This process's shared loader (botocore's own data folders; made on first use)."""
    return botocore.loaders.create_loader()


def adopt(session: botocore.session.Session) -> botocore.session.Session:
    """Make ``session`` load through the shared loader (call it before the session loads
    anything); returns ``session``."""
    session.register_component("data_loader", loader())
    return session


def session() -> botocore.session.Session:
    """A new botocore session that loads through the shared loader."""
    return adopt(botocore.session.Session())


@functools.lru_cache(maxsize=1)
def kms_service_model() -> botocore.model.ServiceModel:
    """botocore's model of the KMS API, parsed once per process (a grading pool's parent
    parses it before forking its workers)."""
    return session().get_service_model("kms")
