"""The course sandbox: where every KMS call of a lesson goes.

One call, ``kms = start_sandbox()``, in a lesson's first code cell:

* chooses a backend: ``"moto"`` (default: moto's ``mock_aws`` inside this kernel, offline),
  ``"moto-server"`` (a moto server on 127.0.0.1 started by ``kms-course server start``; keys
  survive kernel restarts while it runs) or ``"aws"`` (real AWS, only when chosen explicitly);
* sets the region (default ``us-east-1``) and, in a sandbox backend, fake credentials, so that the
  plain ``boto3.client('kms')`` of the lessons works unchanged in later cells;
* installs the real-KMS rules (:mod:`kms_course.sandbox.rules`) in the sandbox backends;
* returns a ready boto3 KMS client and prints one line naming the backend and region.

Running it again keeps the keys already created; :func:`reset` empties the sandbox.

In a sandbox backend no request ever leaves the machine: a client created before the sandbox
started, or aimed at a real AWS endpoint, raises :class:`SandboxError` telling the student to run
the setup cell. Never a real request, never a bare ``NoCredentialsError`` or ``NoRegionError``.

Sources: moto's ``mock_aws`` and server mode (https://docs.getmoto.org/en/latest/docs/getting_started.html,
https://docs.getmoto.org/en/latest/docs/server_mode.html); botocore's ``AWS_ENDPOINT_URL``
setting (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.client
import botocore.exceptions
import botocore.httpsession
import botocore.session

from kms_course.sandbox.server import is_loopback_url

BACKENDS = ("moto", "moto-server", "aws")
SANDBOX_BACKENDS = ("moto", "moto-server")
DEFAULT_REGION = "us-east-1"
ENV_BACKEND = "KMS_COURSE_BACKEND"
ENV_REGION = "KMS_COURSE_REGION"
#: Tag put on every key the course creates in the ``aws`` backend (see ``kms-course cleanup``);
#: keys without it the course never changes there (:mod:`kms_course.sandbox.aws_guard`).
COURSE_TAG_KEY = "kms-course"
COURSE_TAG_VALUE = "created-by-course"

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# Settings that could point a sandbox client at a real account or endpoint.
_ENV_TO_CLEAR = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KMS",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_STS",
)


class SandboxError(RuntimeError):
    """A KMS call that the sandbox refuses to send, with what to do instead."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"SandboxError: {self}"]


@dataclass
class _State:
    backend: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    generation: int = 0
    mock: Any = None
    starting: str | None = None  # the backend being started, while start_sandbox runs


_STATE = _State()
_LOCK = threading.RLock()

RUN_SETUP = (
    "Run the lesson's first code cell (kms = start_sandbox()) and create the client again "
    "afterwards, e.g. kms = boto3.client('kms')."
)


def start_sandbox(backend: str | None = None, region: str | None = None, *, quiet: bool = False):
    """Start (or keep) the course sandbox and return a ready boto3 KMS client.

    Args:
        backend: ``"moto"``, ``"moto-server"`` or ``"aws"``; default: the ``KMS_COURSE_BACKEND``
            environment variable, else ``"moto"``.
        region: AWS Region name, e.g. ``"us-east-1"``; default: ``KMS_COURSE_REGION``, else
            ``us-east-1`` in the sandbox backends and the user's own configured Region for ``aws``.
        quiet: if true, print nothing.

    Returns:
        A ``botocore.client.KMS`` client bound to the chosen backend and Region.

    Raises:
        SandboxError: unknown backend or not a string; a Region that AWS does not have (e.g.
            ``"mars-1"``); ``moto-server`` chosen but no server running (start one with
            ``kms-course server start``) or ``KMS_COURSE_SERVER_URL`` not a loopback address;
            ``aws`` chosen with no Region configured; or an attempt to switch backends inside one
            kernel (restart the kernel instead).

    Calling it again with the same backend keeps every key already created (idempotent).
    """
    with _LOCK:
        if backend is not None and not isinstance(backend, str):
            raise SandboxError(
                f"backend must be a string, one of {', '.join(BACKENDS)} (got {backend!r})."
            )
        if region is not None and not isinstance(region, str):
            raise SandboxError(f"region must be a string such as 'us-east-1' (got {region!r}).")
        chosen = (backend or os.environ.get(ENV_BACKEND) or "moto").strip().lower()
        if chosen not in BACKENDS:
            raise SandboxError(
                f"Unknown backend {chosen!r}: choose one of {', '.join(BACKENDS)} "
                f"(argument backend=... or the {ENV_BACKEND} environment variable)."
            )
        if _STATE.backend is not None and _STATE.backend != chosen:
            raise SandboxError(
                f"This kernel already uses the {_STATE.backend!r} backend. Restart the kernel "
                f"to switch to {chosen!r}."
            )
        _install_guard()
        if region is not None or _STATE.backend is None:
            _check_region(region or os.environ.get(ENV_REGION), chosen)
        if _STATE.backend is None:
            _STATE.starting = chosen
            try:
                if chosen == "moto":
                    _start_moto(region)
                elif chosen == "moto-server":
                    _start_moto_server(region)
                else:
                    _start_aws(region)
            finally:
                _STATE.starting = None
            _STATE.generation += 1
        elif region and region != _STATE.region:
            raise SandboxError(
                f"The sandbox already runs in {_STATE.region}; restart the kernel to use {region}."
            )
        elif _STATE.backend == "moto-server":
            _follow_moto_server()
        client = kms_client()
        from kms_course.lessons import hints

        hints.install()
        if not quiet:
            print(describe())
        return client


def describe() -> str:
    """One line naming the active backend and Region, e.g. for the setup cell's output."""
    where = {
        "moto": "moto in this kernel, offline",
        "moto-server": f"moto server at {_STATE.endpoint_url}, offline",
        "aws": "REAL AWS: calls cost money and change your account",
    }.get(_STATE.backend or "", "not started")
    return f"KMS sandbox ready: backend={_STATE.backend} ({where}), region={_STATE.region}"


def active_backend() -> str | None:
    """The backend in use in this process (``"moto"``, ``"moto-server"``, ``"aws"``) or None."""
    return _STATE.backend


def region() -> str | None:
    """The AWS Region the sandbox uses, or None before :func:`start_sandbox`."""
    return _STATE.region


def kms_client(**kwargs: Any):
    """A new boto3 KMS client for the active backend (same as ``boto3.client('kms')``).

    Raises:
        SandboxError: the sandbox has not been started in this process.
    """
    return client("kms", **kwargs)


def client(service: str, **kwargs: Any):
    """A new boto3 client for ``service`` (e.g. ``"s3"``) in the active backend.

    Raises:
        SandboxError: the sandbox has not been started in this process.
    """
    if _STATE.backend is None:
        raise SandboxError("The sandbox is not running. " + RUN_SETUP)
    kwargs.setdefault("region_name", _STATE.region)
    return boto3.client(service, **kwargs)


def reset() -> None:
    """Empty the sandbox: delete every key, alias and other mocked resource.

    Clients created earlier stay usable. Refused for the ``aws`` backend.

    Raises:
        SandboxError: the sandbox is not running, or the backend is ``aws``.
    """
    with _LOCK:
        if _STATE.backend == "moto":
            from moto.moto_api._internal.models import moto_api_backend

            moto_api_backend.reset()
        elif _STATE.backend == "moto-server":
            import urllib.request

            req = urllib.request.Request(f"{_STATE.endpoint_url}/moto-api/reset", method="POST")
            with urllib.request.urlopen(req, timeout=5):
                pass
        elif _STATE.backend == "aws":
            raise SandboxError("reset() empties only a sandbox; on real AWS use `kms-course cleanup`.")
        else:
            raise SandboxError("The sandbox is not running. " + RUN_SETUP)


def stop_sandbox() -> None:
    """Stop the sandbox in this process (tests use it; lessons never need it).

    In the ``moto`` backend this wipes the mocked data, as leaving ``mock_aws`` does.
    """
    with _LOCK:
        if _STATE.mock is not None:
            _STATE.mock.stop()
        _STATE.backend = None
        _STATE.region = None
        _STATE.endpoint_url = None
        _STATE.mock = None
        _STATE.generation += 1


# --- backends -------------------------------------------------------------------------------


def _use_sandbox_environment(region_name: str) -> None:
    for name in _ENV_TO_CLEAR:
        os.environ.pop(name, None)
    os.environ.update(_FAKE_CREDENTIALS)
    os.environ["AWS_DEFAULT_REGION"] = region_name
    os.environ["AWS_REGION"] = region_name
    # Never read the user's own ~/.aws files inside the sandbox.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    # A session created earlier may hold no (or real) credentials: start from a fresh one,
    # unless it is the one warm_default_session made (a grading process inherits it)
    if _TRUSTED_SESSION is None or boto3.DEFAULT_SESSION is not _TRUSTED_SESSION:
        boto3.DEFAULT_SESSION = None


#: boto3's default session when :func:`warm_default_session` made it.
_TRUSTED_SESSION: Any = None


#: The services whose models every grading process loads (KMS; S3, IAM and STS in lessons 08
#: and 10).
WARM_SERVICES = ("kms", "s3", "iam", "sts")


@contextlib.contextmanager
def neutral_environment() -> Iterator[None]:
    """Run the block with the AWS settings every sandbox has (no profile or endpoint settings,
    empty AWS config and credentials files), then give the process its own environment back.

    For warming up botocore before forking grading processes: what botocore reads while the
    block runs is what a sandbox would read (https://docs.aws.amazon.com/sdkref/latest/guide/file-location.html).
    """
    saved = dict(os.environ)
    try:
        for name in _ENV_TO_CLEAR:
            os.environ.pop(name, None)
        os.environ.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def warm_default_session(services: tuple[str, ...] = WARM_SERVICES) -> None:
    """Make boto3's default session now, load what a client of ``services`` needs, and let the
    sandbox keep that session when it starts (it replaces any other session made before it,
    which may hold no or real credentials).

    For a process that forks grading processes next (the kernel zygote, the grading pool's
    parent): botocore's loader caches the JSON it parses (service models, endpoint rules,
    Regions: ~8 MiB of objects and ~0.1 s of CPU per session), so the forked processes share
    one copy instead of each parsing its own. The session is made in a
    :func:`neutral_environment` and reads its (empty) config file now; it never looks up
    credentials here (a client resolves them when it is made, from its process's environment
    then). Nothing is raised: a failure only leaves the forked processes to load the data
    themselves. See https://boto3.amazonaws.com/v1/documentation/api/latest/guide/session.html.
    """
    global _TRUSTED_SESSION
    try:
        with neutral_environment():
            from kms_course.sandbox import botocore_data

            boto3.setup_default_session(botocore_session=botocore_data.session())
            session = boto3.DEFAULT_SESSION
            session._session.get_scoped_config()
            for partition in session.get_available_partitions():
                session.get_available_regions("kms", partition_name=partition)
            loader = session._session.get_component("data_loader")
            for service in services:
                session._session.get_service_model(service)
                loader.load_service_model(service, "endpoint-rule-set-1")
            for name in ("_retry", "sdk-default-configuration", "partitions"):
                loader.load_data(name)
        _TRUSTED_SESSION = session
    except Exception:  # noqa: BLE001 (only a warm-up: each process loads what is missing itself)
        boto3.DEFAULT_SESSION = None


def _start_moto(region_name: str | None) -> None:
    from moto import mock_aws

    from kms_course.sandbox import rules

    region_name = region_name or os.environ.get(ENV_REGION) or DEFAULT_REGION
    _use_sandbox_environment(region_name)
    rules.install()
    mock = mock_aws()
    mock.start()
    _STATE.mock = mock
    _STATE.backend = "moto"
    _STATE.region = region_name


def _check_region(region_name: str | None, backend: str) -> None:
    """Refuse a Region name that AWS does not have (botocore's endpoint data), in one line."""
    if not region_name:
        return
    import re

    known = set()
    # boto3's default session when there is one (a grading kernel inherits it warm from its
    # zygote, kms_course.instructor.grading.zygote); else a new botocore session, so that no default
    # session is made before the sandbox has set the environment it reads
    session = boto3.DEFAULT_SESSION or botocore.session.get_session()
    for partition in session.get_available_partitions():
        known.update(session.get_available_regions("kms", partition_name=partition))
    if region_name in known:
        return
    # A Region newer than this botocore still has the shape of one; only real AWS may have it.
    if backend == "aws" and re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d{1,2}", region_name):
        return
    raise SandboxError(
        f"Unknown AWS Region {region_name!r}: use one such as 'us-east-1' or 'eu-west-1' "
        f"(region=... in a notebook, --region on the command line, or {ENV_REGION})."
    )


def _server_url() -> str | None:
    from kms_course.sandbox import server

    try:
        return server.running_url()
    except server.ServerError as error:  # a non-loopback KMS_COURSE_SERVER_URL: never contacted
        raise SandboxError(str(error)) from None


def _follow_moto_server() -> None:
    """Running the setup cell again after the server restarted on another port: follow it."""
    url = _server_url()
    if url and url != _STATE.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = url
        _STATE.endpoint_url = url


def _start_moto_server(region_name: str | None) -> None:
    from kms_course.sandbox import server

    url = _server_url()
    if url is None:
        raise SandboxError(
            server.absence_message() + "No course moto server is running. Start one in a "
            "terminal with `kms-course server start`, then run this cell again."
        )
    region_name = region_name or os.environ.get(ENV_REGION) or DEFAULT_REGION
    _use_sandbox_environment(region_name)
    os.environ["AWS_ENDPOINT_URL"] = url
    _STATE.endpoint_url = url
    _STATE.backend = "moto-server"
    _STATE.region = region_name


def _start_aws(region_name: str | None) -> None:
    _allow_instance_metadata()
    session = boto3.Session()
    region_name = region_name or os.environ.get(ENV_REGION) or session.region_name
    if not region_name:
        raise SandboxError(
            "The aws backend needs a Region: set AWS_DEFAULT_REGION, or pass one "
            "(start_sandbox(region='eu-west-1') in a notebook, --region eu-west-1 on the command line)."
        )
    if session.get_credentials() is None:
        raise SandboxError(
            "The aws backend uses your own AWS credentials, and none were found. Configure them "
            "with `aws configure` (never paste keys into a notebook), or use the offline sandbox."
        )
    os.environ["AWS_DEFAULT_REGION"] = region_name
    boto3.DEFAULT_SESSION = None
    _STATE.backend = "aws"
    _STATE.region = region_name


# --- the guard ------------------------------------------------------------------------------

_GUARD_INSTALLED = False


# botocore's credential chain ends with the instance-metadata service (169.254.169.254) and may
# ask a container endpoint (https://docs.aws.amazon.com/sdkref/latest/guide/feature-imds-credentials.html).
# In a process meant for a sandbox backend, even a client created before the setup cell must
# not dial them: AWS_EC2_METADATA_DISABLED turns the metadata provider off, and the container
# settings are dropped. Only the aws backend turns them back on.
_METADATA_DISABLED_BY_US = False
_CONTAINER_SETTINGS = ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
_saved_container_settings: dict[str, str] = {}


def _intended_backend() -> str:
    return _STATE.backend or _STATE.starting or (os.environ.get(ENV_BACKEND) or "moto").strip().lower()


def _block_instance_metadata() -> None:
    global _METADATA_DISABLED_BY_US
    if _intended_backend() not in SANDBOX_BACKENDS:
        return
    if "AWS_EC2_METADATA_DISABLED" not in os.environ:
        os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
        _METADATA_DISABLED_BY_US = True
    for name in _CONTAINER_SETTINGS:
        if name in os.environ:
            _saved_container_settings[name] = os.environ.pop(name)


def _allow_instance_metadata() -> None:
    global _METADATA_DISABLED_BY_US
    if _METADATA_DISABLED_BY_US:
        os.environ.pop("AWS_EC2_METADATA_DISABLED", None)
        _METADATA_DISABLED_BY_US = False
    os.environ.update(_saved_container_settings)
    _saved_container_settings.clear()


_SERVER_DOWN = (
    "The course moto server at {url} is not answering. Start it again in a terminal with "
    "`kms-course server start` (your keys and objects are kept), then run this cell again."
)


def _tag_course_keys(params: dict, **_: Any) -> None:
    tags = list(params.get("Tags") or [])
    if not any(t.get("TagKey") == COURSE_TAG_KEY for t in tags):
        tags.append({"TagKey": COURSE_TAG_KEY, "TagValue": COURSE_TAG_VALUE})
    params["Tags"] = tags


def _install_guard() -> None:
    """Patch botocore once so that sandbox clients can never reach AWS."""
    global _GUARD_INSTALLED
    if _STATE.backend in SANDBOX_BACKENDS or _STATE.backend is None:
        _block_instance_metadata()
    if _GUARD_INSTALLED:
        return
    _GUARD_INSTALLED = True

    original_create_client = botocore.session.Session.create_client

    def create_client(self, service_name, *args, **kwargs):
        __tracebackhide__ = True
        try:
            new = original_create_client(self, service_name, *args, **kwargs)
        except botocore.exceptions.NoRegionError:
            if _STATE.backend is not None:
                raise
            raise SandboxError(
                f"boto3.client({service_name!r}) was called before the sandbox started, so no "
                "Region is set. " + RUN_SETUP
            ) from None
        new._kms_course_generation = _STATE.generation
        if _STATE.backend == "aws" and service_name == "kms":
            new.meta.events.register("before-parameter-build.kms.CreateKey", _tag_course_keys)
            from kms_course.sandbox import aws_guard  # changes only keys with the course's tag

            aws_guard.install(new)
        return new

    botocore.session.Session.create_client = create_client

    original_make_api_call = botocore.client.BaseClient._make_api_call

    def _make_api_call(self, operation_name, api_params):
        __tracebackhide__ = True  # IPython and pytest leave this frame out of tracebacks
        backend = _STATE.backend
        if backend is None:
            raise SandboxError(
                f"{self.meta.service_model.service_name}.{operation_name} was called before the "
                "sandbox started. " + RUN_SETUP
            )
        if backend in SANDBOX_BACKENDS:
            if getattr(self, "_kms_course_generation", None) != _STATE.generation:
                raise SandboxError(
                    "This client was created before the sandbox started, so it would talk to "
                    "real AWS. " + RUN_SETUP
                )
            if backend == "moto-server" and not is_loopback_url(self.meta.endpoint_url):
                raise SandboxError(
                    f"This client is aimed at {self.meta.endpoint_url}, not at the course's moto "
                    "server. " + RUN_SETUP
                )
        if backend != "moto-server":
            return original_make_api_call(self, operation_name, api_params)
        try:
            return original_make_api_call(self, operation_name, api_params)
        except (botocore.exceptions.EndpointConnectionError,
                botocore.exceptions.ConnectionClosedError):
            message = _SERVER_DOWN.format(url=self.meta.endpoint_url)
            now = _server_url_quietly()
            if now and now != self.meta.endpoint_url.rstrip("/"):
                message = (
                    f"The course moto server moved to {now} (your keys and objects are kept): run "
                    "the setup cell again (kms = start_sandbox()) and create your clients again."
                )
            raise SandboxError(message) from None

    botocore.client.BaseClient._make_api_call = _make_api_call

    original_send = botocore.httpsession.URLLib3Session.send

    def send(self, request):
        __tracebackhide__ = True
        if _intended_backend() in SANDBOX_BACKENDS and not is_loopback_url(request.url):
            raise SandboxError(
                f"Blocked a request to {urlsplit(request.url).hostname}: the sandbox never "
                "contacts AWS. " + RUN_SETUP
            )
        return original_send(self, request)

    botocore.httpsession.URLLib3Session.send = send


def _server_url_quietly() -> str | None:
    try:
        return _server_url()
    except SandboxError:
        return None


# Installed on import, so that a call made before the setup cell gets a clear error.
_install_guard()
