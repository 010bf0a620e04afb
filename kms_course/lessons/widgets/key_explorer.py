"""Key explorer: a small ipywidgets panel listing the sandbox's KMS keys, with state buttons.

``KeyExplorer(kms)`` shows every KMS key the client can list, with its alias, key usage, key spec,
key state, automatic rotation and scheduled deletion date, and offers buttons for the four
key-state calls a lesson teaches. Each button makes exactly the call a code cell would make, on
the same boto3 KMS client, so the sandbox's real-KMS rules (:mod:`kms_course.sandbox.rules`) apply;
when KMS refuses, the explorer shows the real error code and message instead of raising.

* Disable: ``kms.disable_key(KeyId=...)``
  (https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKey.html)
* Enable: ``kms.enable_key(KeyId=...)``
  (https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKey.html)
* Schedule deletion: ``kms.schedule_key_deletion(KeyId=..., PendingWindowInDays=7..30)``
  (https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html)
* Cancel deletion: ``kms.cancel_key_deletion(KeyId=...)``
  (https://docs.aws.amazon.com/kms/latest/APIReference/API_CancelKeyDeletion.html)

Which call is allowed in which key state is listed on the Developer Guide's key state page,
https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html.

The **Advance clock** button moves the sandbox clock (:func:`kms_course.sandbox.clock.advance`) by
the chosen number of days, so a scheduled deletion completes at its DeletionDate and automatic
rotations happen at their NextRotationDate, as they would on AWS as time passes
(https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html,
https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html). With the ``aws``
backend it only says that real time cannot be moved.

The explorer has a stable plain-text form (no key IDs, ARNs or dates), so nbval and frontends
without widget support show a sensible summary; its callbacks never print.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import ipywidgets as widgets
from botocore.exceptions import ClientError

from kms_course.widget_text import TextForm

#: Bounds of ScheduleKeyDeletion's PendingWindowInDays, in days; AWS's default is 30.
#: https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html
MIN_WINDOW_DAYS = 7
MAX_WINDOW_DAYS = 30
DEFAULT_WINDOW_DAYS = 30
#: Bounds and default of the Advance clock control, in days.
MIN_ADVANCE_DAYS, MAX_ADVANCE_DAYS, DEFAULT_ADVANCE_DAYS = 1, 3650, 7

#: Header of the key table, in column order.
COLUMNS = ("Alias", "Key usage", "Key spec", "Key state", "Rotation", "Deletion date")


@dataclass(frozen=True)
class KeyRow:
    """What the explorer shows about one KMS key.

    Attributes:
        key_id: the key ID (a UUID), as ListKeys returns it.
        aliases: alias names (``"alias/..."``) pointing at the key, sorted; empty if none.
        key_usage: ``KeyMetadata.KeyUsage`` (e.g. ``"ENCRYPT_DECRYPT"``), or
            ``"(not reported)"`` when DescribeKey leaves it out.
        key_spec: ``KeyMetadata.KeySpec`` (e.g. ``"SYMMETRIC_DEFAULT"``, ``"RSA_2048"``).
        key_state: ``KeyMetadata.KeyState`` (``"Enabled"``, ``"Disabled"``, ``"PendingDeletion"``,
            ...).
        rotation: ``"on"``, ``"on (every N days)"``, ``"off"``, ``"not supported"`` (automatic
            rotation exists only for symmetric encryption keys) or ``"unknown (<error code>)"``.
        deletion_date: ``KeyMetadata.DeletionDate`` (timezone-aware) while the key is pending
            deletion, else None.

    Sources: https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html,
    https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyRotationStatus.html.
    """

    key_id: str
    aliases: tuple[str, ...]
    key_usage: str
    key_spec: str
    key_state: str
    rotation: str
    deletion_date: datetime | None

    @property
    def alias(self) -> str:
        """The aliases joined by ``", "``, or ``"(no alias)"``."""
        return ", ".join(self.aliases) or "(no alias)"

    @property
    def label(self) -> str:
        """Dropdown label: the alias, or the first 8 characters of the key ID."""
        return self.aliases[0] if self.aliases else f"key {self.key_id[:8]}…"

    def stable_cells(self) -> tuple[str, ...]:
        """The row as text without key ID or date (for the plain-text and HTML forms)."""
        deletion = "scheduled" if self.deletion_date else "-"
        return (self.alias, self.key_usage, self.key_spec, self.key_state, self.rotation, deletion)

    def live_cells(self) -> tuple[str, ...]:
        """The row as the live widget shows it: with the deletion date (UTC, to the minute)."""
        cells = list(self.stable_cells())
        if self.deletion_date is not None:
            cells[-1] = self.deletion_date.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return tuple(cells)


def describe_error(error: BaseException) -> str:
    """``"<AWS error code>: <message>"`` for a botocore ``ClientError``, else ``"<type>: <text>"``."""
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        code = response["Error"].get("Code", type(error).__name__)
        message = response["Error"].get("Message") or "(no message)"
        return f"{code}: {message}"
    return f"{type(error).__name__}: {error}"


def list_key_rows(kms: Any) -> list[KeyRow]:
    """Every KMS key the client can list, described, sorted by alias (keys without alias last).

    Args:
        kms: a boto3 KMS client.

    Returns:
        One :class:`KeyRow` per key from ListKeys (all pages).

    Raises:
        botocore.exceptions.ClientError: ListKeys, ListAliases or DescribeKey failed.
    """
    key_ids = [
        entry["KeyId"]
        for page in kms.get_paginator("list_keys").paginate()
        for entry in page["Keys"]
    ]
    aliases: dict[str, list[str]] = {}
    for page in kms.get_paginator("list_aliases").paginate():
        for entry in page["Aliases"]:
            if entry.get("TargetKeyId"):
                aliases.setdefault(entry["TargetKeyId"], []).append(entry["AliasName"])
    rows = []
    for key_id in key_ids:
        meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        rows.append(
            KeyRow(
                key_id=key_id,
                aliases=tuple(sorted(aliases.get(key_id, ()))),
                key_usage=meta.get("KeyUsage", "(not reported)"),
                key_spec=meta.get("KeySpec", meta.get("CustomerMasterKeySpec", "(not reported)")),
                key_state=meta["KeyState"],
                rotation=_rotation(kms, key_id, meta),
                deletion_date=meta.get("DeletionDate"),
            )
        )
    # Never sort by the random key ID, so the order (and the text form) is reproducible.
    rows.sort(key=lambda r: (not r.aliases, r.aliases, r.key_state, r.key_spec, r.key_usage))
    return rows


def _rotation(kms: Any, key_id: str, meta: dict) -> str:
    # Automatic rotation is supported only for symmetric encryption KMS keys:
    # https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html
    if meta.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        return "not supported"
    try:
        status = kms.get_key_rotation_status(KeyId=key_id)
    except ClientError as error:  # e.g. a key state in which KMS refuses the call
        return f"unknown ({error.response['Error'].get('Code', 'error')})"
    if not status.get("KeyRotationEnabled"):
        return "off"
    period = status.get("RotationPeriodInDays")
    return f"on (every {period} days)" if period else "on"


def _html_table(rows: list[tuple[str, ...]]) -> str:
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{c}</th>" for c in COLUMNS)
    body = "".join(
        "<tr>"
        + "".join(f"<td style='padding:2px 8px'>{html.escape(c)}</td>" for c in row)
        + "</tr>"
        for row in rows
    )
    if not rows:
        body = f"<tr><td colspan='{len(COLUMNS)}'>No KMS keys yet.</td></tr>"
    return f"<table class='kms-course-keys'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class KeyExplorer(TextForm):
    """A panel listing the KMS keys of ``kms`` with disable / enable / schedule / cancel buttons.

    Args:
        kms: a boto3 KMS client of the sandbox (e.g. the ``kms`` from ``start_sandbox()``).

    Attributes (for code and tests; clicking drives the same callbacks):
        rows: the :class:`KeyRow` list from the last refresh.
        key_picker: ``Dropdown`` whose value is the selected key ID (None if there are no keys).
        window_days: ``IntSlider`` for PendingWindowInDays, 7 to 30 days, default 30.
        refresh_button, disable_button, enable_button, schedule_button, cancel_button: buttons.
        advance_days: ``BoundedIntText`` for how many days the clock moves (1 to 3650, default 7);
            advance_button: moves the sandbox clock by that many days and refreshes.
        status: ``HTML`` line with the last outcome; ``status_text`` holds it as plain text, e.g.
            ``"KMS refused enable_key(): KMSInvalidStateException: <message>"``.
        widget: the ``VBox`` that Jupyter displays.

    Displaying the explorer shows the live widget; its ``text/plain`` and ``text/html`` forms are
    a table without key IDs or dates.
    """

    def __init__(self, kms: Any):
        if not hasattr(kms, "describe_key"):
            raise TypeError(
                "KeyExplorer needs a boto3 KMS client, e.g. KeyExplorer(kms) with "
                "kms = start_sandbox()."
            )
        self.kms = kms
        self.rows: list[KeyRow] = []
        self.table = widgets.HTML()
        self.key_picker = widgets.Dropdown(description="Key:", options=[])
        self.window_days = widgets.IntSlider(
            value=DEFAULT_WINDOW_DAYS,
            min=MIN_WINDOW_DAYS,
            max=MAX_WINDOW_DAYS,
            description="Window (days):",
            style={"description_width": "initial"},
        )
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.disable_button = widgets.Button(description="Disable")
        self.enable_button = widgets.Button(description="Enable")
        self.schedule_button = widgets.Button(
            description="Schedule deletion", button_style="danger"
        )
        self.cancel_button = widgets.Button(description="Cancel deletion")
        self.advance_days = widgets.BoundedIntText(
            value=DEFAULT_ADVANCE_DAYS, min=MIN_ADVANCE_DAYS, max=MAX_ADVANCE_DAYS,
            description="Days:", layout=widgets.Layout(width="12em"),
        )
        self.advance_button = widgets.Button(description="Advance clock", icon="clock-o")
        self.status = widgets.HTML()
        self.status_text = ""
        self.refresh_button.on_click(lambda _: self.refresh())
        self.disable_button.on_click(lambda _: self._call("disable_key"))
        self.enable_button.on_click(lambda _: self._call("enable_key"))
        self.schedule_button.on_click(
            lambda _: self._call(
                "schedule_key_deletion", PendingWindowInDays=self.window_days.value
            )
        )
        self.cancel_button.on_click(lambda _: self._call("cancel_key_deletion"))
        self.advance_button.on_click(lambda _: self.advance_clock())
        self.widget = widgets.VBox(
            [
                widgets.HTML("<b>KMS keys in the sandbox</b>"),
                self.table,
                widgets.HBox([self.key_picker, self.refresh_button]),
                widgets.HBox([self.disable_button, self.enable_button]),
                widgets.HBox([self.schedule_button, self.window_days, self.cancel_button]),
                widgets.HBox([self.advance_button, self.advance_days]),
                self.status,
            ]
        )
        self.refresh()

    # --- actions ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload the keys from KMS and redraw; a failure is shown in :attr:`status`."""
        try:
            self.rows = list_key_rows(self.kms)
        except Exception as error:  # noqa: BLE001  (a callback shows errors, never raises)
            self._say(f"Could not list the keys: {describe_error(error)}", ok=False)
            return
        self.table.value = _html_table([r.live_cells() for r in self.rows])
        selected = self.key_picker.value
        self.key_picker.options = [(r.label, r.key_id) for r in self.rows]
        ids = [r.key_id for r in self.rows]
        self.key_picker.value = selected if selected in ids else (ids[0] if ids else None)

    def advance_clock(self, days: int | None = None) -> None:
        """Move the sandbox clock forward by ``days`` (default: :attr:`advance_days`), then
        refresh; the status says the new sandbox time and how many keys KMS deleted meanwhile.
        A refusal (the ``aws`` backend) is shown in :attr:`status`, never raised."""
        from kms_course.sandbox import clock

        days = self.advance_days.value if days is None else days
        before = {r.key_id for r in self.rows}
        try:
            now = clock.advance(days=days)
        except Exception as error:  # noqa: BLE001  (a callback shows errors, never raises)
            self._say(f"Could not advance the clock: {describe_error(error)}", ok=False)
            return
        self.refresh()
        gone = len(before - {r.key_id for r in self.rows})
        deleted = f"; {gone} key{'s' if gone != 1 else ''} deleted" if gone else ""
        self._say(f"Sandbox clock advanced {days} day{'s' if days != 1 else ''}; it is now "
                  f"{now:%Y-%m-%d %H:%M} UTC{deleted}.", ok=True)

    def select(self, key: str) -> None:
        """Select a key by key ID, key ARN or alias name (``"alias/..."``).

        Raises:
            ValueError: no listed key matches (press Refresh after creating keys).
        """
        for row in self.rows:
            if key in (row.key_id, *row.aliases) or key.endswith(f":key/{row.key_id}"):
                self.key_picker.value = row.key_id
                return
        raise ValueError(
            f"No listed KMS key matches {key!r}; create it first, then call refresh()."
        )

    def _call(self, operation: str, **params: Any) -> None:
        key_id = self.key_picker.value
        if key_id is None:
            self._say(
                "No key selected: create a key with kms.create_key(), then Refresh.", ok=False
            )
            return
        call = f"{operation}({', '.join(f'{k}={v}' for k, v in params.items())})"
        try:
            getattr(self.kms, operation)(KeyId=key_id, **params)
        except Exception as error:  # noqa: BLE001  (shown, never raised: a refusal is the lesson)
            self.refresh()
            self._say(f"KMS refused {call}: {describe_error(error)}", ok=False)
            return
        self.refresh()
        state = next((r.key_state for r in self.rows if r.key_id == key_id), "unknown")
        self._say(f"{call} succeeded; key state is now {state}.", ok=True)

    def _say(self, text: str, *, ok: bool) -> None:
        self.status_text = text
        colour = "#1a7f37" if ok else "#b42318"
        self.status.value = f"<span style='color:{colour}'>{html.escape(text)}</span>"

    # --- display ---------------------------------------------------------------------------

    def text(self) -> str:
        """Stable plain-text table of the keys: no key IDs, ARNs or dates."""
        lines = [f"KMS keys in the sandbox ({len(self.rows)}):"]
        table = [COLUMNS, *(r.stable_cells() for r in self.rows)]
        widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
        for row in table:
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        return "\n".join(lines)

    def html(self) -> str:
        """Stable HTML table of the keys, with the same cells as :meth:`text`."""
        return _html_table([r.stable_cells() for r in self.rows])
