"""The sandbox's audit trail: every KMS call, allowed or refused, as a CloudTrail event.

On AWS, CloudTrail records each KMS request: who made it, when, on which KMS key, with which
encryption context, and the error if it was refused; never the plaintext, the ciphertext or a
plaintext data key (https://docs.aws.amazon.com/kms/latest/developerguide/logging-using-cloudtrail.html,
https://docs.aws.amazon.com/kms/latest/developerguide/ct-decrypt.html). The sandbox keeps the
same record of every KMS request it answers, with CloudTrail's field names
(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html,
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html)::

    from kms_course.sandbox.trail import trail, show_trail
    trail(key_id=key_id, event_name="Decrypt")   # a list of events (dicts)
    show_trail(key_id=key_id)                    # the same as a table

Each event has ``eventVersion``, ``userIdentity`` (the calling principal, from
:mod:`kms_course.sandbox.access`: type ``Root``, ``IAMUser`` or ``AssumedRole`` with its ``arn``,
``accountId``, ``principalId``, ``accessKeyId``), ``eventTime`` (on the sandbox clock,
:mod:`kms_course.sandbox.clock`, ``YYYY-MM-DDTHH:MM:SSZ``), ``eventSource`` (``kms.amazonaws.com``),
``eventName`` (the operation), ``awsRegion``, ``sourceIPAddress``, ``userAgent``,
``requestParameters`` (the request's members in lower camel case, e.g. ``keyId``,
``encryptionContext``; binary members such as ``plaintext`` and ``ciphertextBlob`` are left out),
``responseElements`` (null for read-only operations such as Encrypt, Decrypt and GenerateDataKey;
the response without binary members otherwise), ``requestID``, ``eventID``, ``readOnly``,
``resources`` (``[{"accountId", "type": "AWS::KMS::Key", "ARN"}]``), ``eventType``
(``AwsApiCall``; ``AwsServiceEvent`` for a deletion or an automatic rotation KMS made itself),
``managementEvent``, ``recipientAccountId``, ``eventCategory``, and for a refused call
``errorCode`` and ``errorMessage``.

The events are kept inside moto's KMS backends (one list per account and Region, pickled by the
course's moto server with the keys), at most :data:`MAX_EVENTS` each (the oldest are dropped).
Emptying the sandbox empties the trail. Nothing can change or delete an event. The ``aws``
backend has no sandbox trail: :func:`trail` raises :class:`kms_course.sandbox.start.SandboxError`
pointing to CloudTrail, and :func:`show_trail` says so.
"""

from __future__ import annotations

import html
import json
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from kms_course.sandbox import botocore_data, clock, course_api, rules
from kms_course.widget_text import TextForm

ATTRIBUTE = "_kms_course_trail"
OPERATION = "KmsCourseTrail"
#: Most events kept per account and Region; the oldest are dropped beyond it.
MAX_EVENTS = 5000
EVENT_VERSION = "1.11"
CLOUDTRAIL_DOC = "https://docs.aws.amazon.com/kms/latest/developerguide/logging-using-cloudtrail.html"
LOOKUP_DOC = "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/view-cloudtrail-events.html"
_READ_ONLY_PREFIXES = ("Describe", "Get", "List")
_READ_ONLY = frozenset({
    "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateRandom", "Sign",
    "Verify", "GenerateMac", "VerifyMac", "DeriveSharedSecret",
})


def read_only(operation: str) -> bool:
    """CloudTrail's ``readOnly`` for a KMS operation: true for reads and cryptographic calls."""
    return operation in _READ_ONLY or operation.startswith(_READ_ONLY_PREFIXES)


def event_time(moment: datetime) -> str:
    """A naive-UTC datetime in CloudTrail's eventTime form, e.g. ``2025-05-20T20:46:16Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- CloudTrail's form of requests and responses -------------------------------------------------


def _lower(name: str) -> str:
    return name[:1].lower() + name[1:]


def cloudtrail_form(value: Any, shape: Any) -> Any:
    """``value`` shaped by botocore ``shape`` as CloudTrail writes it: structure members in lower
    camel case (``KeyId`` -> ``keyId``, ``AWSAccountId`` -> ``aWSAccountId``), map keys (an
    encryption context's) unchanged, timestamps as eventTime text, members the model does not
    know dropped, and every binary (blob) member dropped: no plaintext, ciphertext or key."""
    kind = getattr(shape, "type_name", None)
    if kind == "structure" and isinstance(value, dict):
        out = {}
        for name, item in value.items():
            member = shape.members.get(name)
            if member is None or member.type_name == "blob" or item is None:
                continue
            out[_lower(name)] = cloudtrail_form(item, member)
        return out
    if kind == "list" and isinstance(value, list):
        return [cloudtrail_form(item, shape.member) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: cloudtrail_form(item, shape.value) for key, item in value.items()}
    if kind == "timestamp" and isinstance(value, (int, float)):
        return event_time(datetime.utcfromtimestamp(value))
    if kind == "blob":
        return None
    return value


def request_parameters(operation: str, params: dict) -> dict | None:
    """CloudTrail's ``requestParameters``; Decrypt always names its ``encryptionAlgorithm``
    (https://docs.aws.amazon.com/kms/latest/developerguide/ct-decrypt.html)."""
    try:
        shape = botocore_data.kms_service_model().operation_model(operation).input_shape
    except Exception:
        return None
    out = cloudtrail_form(params, shape) or {}
    if operation == "Decrypt":
        out.setdefault("encryptionAlgorithm", "SYMMETRIC_DEFAULT")
    return out or None


def response_elements(operation: str, body: Any) -> dict | None:
    """CloudTrail's ``responseElements``: null for read-only operations, else the response
    without binary members."""
    if read_only(operation) or not isinstance(body, dict):
        return None
    try:
        shape = botocore_data.kms_service_model().operation_model(operation).output_shape
    except Exception:
        return None
    return cloudtrail_form(body, shape) or None


# --- recording ------------------------------------------------------------------------------------


def user_identity(ctx) -> dict:
    """``userIdentity`` of the request's caller (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html)."""
    from kms_course.sandbox.access.authorize import caller_of

    caller = caller_of(ctx)
    identity: dict[str, Any] = {"arn": caller.arn, "accountId": caller.account,
                                "accessKeyId": ctx.get_access_key()}
    if caller.kind == "root":
        identity = {"type": "Root", "principalId": caller.account, **identity}
    elif caller.kind == "user":
        identity = {"type": "IAMUser", "principalId": _iam_id(caller, "user"), **identity,
                    "userName": caller.name}
    else:
        role_id = _iam_id(caller, "role")
        identity = {"type": "AssumedRole", "principalId": f"{role_id}:{caller.arn.rsplit('/', 1)[-1]}",
                    **identity,
                    "sessionContext": {"sessionIssuer": {
                        "type": "Role", "principalId": role_id, "arn": caller.role_arn,
                        "accountId": caller.account, "userName": caller.name}}}
    return identity


def _iam_id(caller, kind: str) -> str:
    """The unique ID IAM gave a user (AIDA...) or role (AROA...), or '' if unknown."""
    try:
        from moto.iam.models import iam_backends
        from moto.utilities.utils import get_partition

        iam = iam_backends[caller.account][get_partition("us-east-1")]
        found = iam.get_user(caller.name) if kind == "user" else iam.get_role(caller.name)
        return found.id
    except Exception:
        return ""


def _resources(ctx, operation: str, params: dict, body: Any) -> list[dict]:
    from kms_course.sandbox.access.authorize import needs

    arns: list[str] = []
    try:
        for need in needs(ctx, operation, params):
            if need.key is not None and need.key.arn not in arns:
                arns.append(need.key.arn)
    except Exception:
        pass
    if operation == "CreateKey" and isinstance(body, dict):
        arn = (body.get("KeyMetadata") or {}).get("Arn")
        if arn and arn not in arns:
            arns.append(arn)
    return [{"accountId": arn.split(":")[4], "type": "AWS::KMS::Key", "ARN": arn} for arn in arns]


def _append(backend, event: dict) -> None:
    events = getattr(backend, ATTRIBUTE, None)
    if events is None:
        events = []
        setattr(backend, ATTRIBUTE, events)
    events.append(json.dumps(event, sort_keys=False))  # text: cheap to pickle, never shared
    if len(events) > MAX_EVENTS:
        del events[: len(events) - MAX_EVENTS]


def _error_fields(error: BaseException) -> dict:
    code = getattr(error, "error_type", None) or type(error).__name__
    message = getattr(error, "message", None)
    if not isinstance(message, str):
        message = str(error)
    return {"errorCode": code, "errorMessage": message}


def record(ctx, operation: str, params: dict, out: Any, error: BaseException | None) -> None:
    """Record one KMS request (``rules.OBSERVERS``): ``out`` is the answer (JSON text or dict)
    or None, ``error`` the exception it was refused with. Never raises."""
    try:
        body = json.loads(out) if isinstance(out, str) and out else out
        backend = ctx.kms_backend
        event: dict[str, Any] = {
            "eventVersion": EVENT_VERSION,
            "userIdentity": user_identity(ctx),
            "eventTime": event_time(clock.local_now()),
            "eventSource": "kms.amazonaws.com",
            "eventName": operation,
            "awsRegion": ctx.region,
            "sourceIPAddress": _source_ip(ctx),
            "userAgent": _user_agent(ctx),
        }
        if error is not None:
            event.update(_error_fields(error))
        event.update({
            "requestParameters": request_parameters(operation, params if isinstance(params, dict) else {}),
            "responseElements": None if error is not None else response_elements(operation, body),
            "requestID": str(uuid.uuid4()),
            "eventID": str(uuid.uuid4()),
            "readOnly": read_only(operation),
            "resources": _resources(ctx, operation, params if isinstance(params, dict) else {}, body),
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ctx.current_account,
            "eventCategory": "Management",
        })
        _append(backend, event)
    except Exception:  # the trail never breaks a request
        pass


def _source_ip(ctx) -> str:
    environ = getattr(getattr(ctx, "request", None), "environ", None) or {}
    return environ.get("REMOTE_ADDR") or "127.0.0.1"


def _user_agent(ctx) -> str:
    headers = getattr(ctx, "headers", None) or {}
    try:
        return headers.get("User-Agent") or headers.get("user-agent") or ""
    except Exception:
        return ""


def service_event(backend, event_name: str, key_arn: str, when: datetime, *,
                  details: dict | None = None, response: dict | None = None) -> None:
    """Record an event KMS makes itself (``DeleteKey`` when a waiting period ends, ``RotateKey``
    for an automatic rotation), at ``when`` (naive UTC), as in
    https://docs.aws.amazon.com/kms/latest/developerguide/ct-delete-key.html and
    https://docs.aws.amazon.com/kms/latest/developerguide/ct-rotatekey.html."""
    account = key_arn.split(":")[4]
    event: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": {"accountId": account, "invokedBy": "AWS Internal"},
        "eventTime": event_time(when),
        "eventSource": "kms.amazonaws.com",
        "eventName": event_name,
        "awsRegion": key_arn.split(":")[3],
        "sourceIPAddress": "AWS Internal",
        "userAgent": "AWS Internal",
        "requestParameters": None,
        "responseElements": response,
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "resources": [{"accountId": account, "type": "AWS::KMS::Key", "ARN": key_arn}],
        "eventType": "AwsServiceEvent",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if details:
        event["serviceEventDetails"] = details
    _append(backend, event)


def install() -> None:
    """Hook the trail into :mod:`kms_course.sandbox.rules` (called by ``rules.install()``;
    idempotent)."""
    if record not in rules.OBSERVERS:
        rules.OBSERVERS.append(record)


# --- reading --------------------------------------------------------------------------------------


def _key_matches(event: dict, wanted: set[str], names: set[str]) -> bool:
    for resource in event.get("resources") or []:
        if resource.get("ARN", "").rsplit("/", 1)[-1] in wanted:
            return True
    given = (event.get("requestParameters") or {}).get("keyId")
    if isinstance(given, str) and (given in names or given.rsplit("/", 1)[-1] in wanted):
        return True
    return False


def query(backend_list: list, *, key_id: str | None = None, event_name: str | None = None,
          principal: str | None = None, error_code: str | None = None) -> list[dict]:
    """The events of ``backend_list`` that match every filter given, oldest first.

    ``key_id`` may be a key ID, key ARN, alias name or alias ARN (an alias matches the key it
    points to now, and requests that named the alias).
    """
    wanted: set[str] = set()
    names: set[str] = set()
    if key_id:
        names.add(key_id)
        tail = key_id.rsplit(":", 1)[-1] if key_id.startswith("arn:") else key_id
        if tail.startswith("key/"):
            wanted.add(tail[4:])
        elif tail.startswith("alias/"):
            names.add(tail)
            for backend in backend_list:
                for key in backend.keys.values():
                    if tail in key.aliases:
                        wanted.add(key.id)
        else:
            wanted.add(tail)
    found = []
    for backend in backend_list:
        for text in getattr(backend, ATTRIBUTE, ()):
            event = json.loads(text)
            if event_name and event.get("eventName") != event_name:
                continue
            if error_code and event.get("errorCode") != error_code:
                continue
            if principal and (event.get("userIdentity") or {}).get("arn") != principal:
                continue
            if key_id and not _key_matches(event, wanted, names):
                continue
            found.append(event)
    found.sort(key=lambda e: e["eventTime"])  # stable: same-second events keep their order
    return found


@course_api.operation(OPERATION)
def _trail_operation(backend, params: dict) -> dict:
    """``{"KeyId", "EventName", "Principal", "ErrorCode"}`` (all optional) -> ``{"Events": [...]}``."""
    clock.settle_all()
    for name in ("KeyId", "EventName", "Principal", "ErrorCode"):
        if params.get(name) is not None and not isinstance(params[name], str):
            raise rules.KmsError("ValidationException", f"{name} must be a string.")
    return {"Events": query(clock.backends(), key_id=params.get("KeyId"),
                            event_name=params.get("EventName"), principal=params.get("Principal"),
                            error_code=params.get("ErrorCode"))}


def _aws_message() -> str:
    return ("The aws backend has no sandbox trail: your account's calls are in AWS CloudTrail. "
            "Open CloudTrail > Event history in the console (filter by Resource name = the key ARN, "
            "or Event source = kms.amazonaws.com), or run `aws cloudtrail lookup-events "
            "--lookup-attributes AttributeKey=EventSource,AttributeValue=kms.amazonaws.com` "
            f"({LOOKUP_DOC}).")


def trail(key_id: str | None = None, event_name: str | None = None, *,
          principal: str | None = None, error_code: str | None = None) -> list[dict]:
    """The sandbox's CloudTrail events, oldest first, that match every filter given.

    Args:
        key_id: only events about this KMS key (key ID, key ARN, alias name or alias ARN).
        event_name: only this operation, e.g. ``"Decrypt"`` (or ``"DeleteKey"``/``"RotateKey"``
            for what KMS did itself when time passed).
        principal: only calls by this principal ARN (``userIdentity.arn``).
        error_code: only calls refused with this error code, e.g. ``"AccessDeniedException"``.

    Returns:
        A list of events (dicts with CloudTrail's field names, see the module docstring).

    Raises:
        kms_course.sandbox.start.SandboxError: the sandbox is not running, or the backend is ``aws``
            (look in CloudTrail instead: the message says how).
    """
    from kms_course.sandbox import start as sandbox

    if sandbox.active_backend() == "aws":
        raise sandbox.SandboxError(_aws_message())
    params = {"KeyId": key_id, "EventName": event_name, "Principal": principal,
              "ErrorCode": error_code}
    return course_api.call(OPERATION, {k: v for k, v in params.items() if v is not None})["Events"]


# --- the table ------------------------------------------------------------------------------------

COLUMNS = ("eventTime", "eventName", "userIdentity", "KMS key", "encryptionContext", "errorCode")


def _who(event: dict) -> str:
    identity = event.get("userIdentity") or {}
    return identity.get("arn") or identity.get("invokedBy") or ""


def _key_of(event: dict) -> str:
    resources = event.get("resources") or []
    return ", ".join(r.get("ARN", "").rsplit("/", 1)[-1] for r in resources)


def _context_of(event: dict) -> str:
    context = (event.get("requestParameters") or {}).get("encryptionContext")
    return json.dumps(context, sort_keys=True) if context else ""


def row(event: dict) -> tuple[str, ...]:
    """An event's cells, in :data:`COLUMNS` order."""
    return (event.get("eventTime", ""), event.get("eventName", ""), _who(event), _key_of(event),
            _context_of(event), event.get("errorCode", ""))


class TrailTable(TextForm):
    """A table of trail events (an ipywidgets HTML widget), newest last.

    Its plain-text form is stable (how many events of each name, how many refused; no times, IDs
    or ARNs), for nbval and frontends without widgets.

    Args:
        events: events as :func:`trail` returns them; or None with ``message`` (e.g. the aws
            backend's pointer to CloudTrail).
    """

    def __init__(self, events: list[dict] | None, message: str = ""):
        import ipywidgets as widgets  # here: the sandbox server records the trail, no widget

        self.events = list(events or [])
        self.message = message
        self.widget = widgets.HTML(self._table_html())

    def _table_html(self) -> str:
        if self.message:
            return f"<p>{html.escape(self.message)}</p>"
        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row(e)) + "</tr>"
            for e in self.events
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def text(self) -> str:
        if self.message:
            return self.message
        names = Counter(e.get("eventName", "") for e in self.events)
        refused = sum(1 for e in self.events if e.get("errorCode"))
        parts = ", ".join(f"{name} x{count}" for name, count in sorted(names.items()))
        return f"Trail: {len(self.events)} events ({parts or 'none'}); {refused} refused"

    def html(self) -> str:
        return f"<p>{html.escape(self.text())}</p>"


def show_trail(key_id: str | None = None, event_name: str | None = None, *,
               principal: str | None = None, error_code: str | None = None) -> TrailTable:
    """:func:`trail` as a table (:class:`TrailTable`). With the ``aws`` backend the table only
    says where to look in CloudTrail. Same arguments and errors as :func:`trail` otherwise."""
    from kms_course.sandbox import start as sandbox

    if sandbox.active_backend() == "aws":
        return TrailTable(None, _aws_message())
    return TrailTable(trail(key_id, event_name, principal=principal, error_code=error_code))
