"""The form's "already ran?" step: before queueing, say which of the form's
jobs exist already (same task, same hyperparameters with defaults filled in,
seed included; store/fingerprints.py), with each one's status, result and a
link to it, and ask: queue them again, queue only the new ones (a sweep), or
cancel. The answer is a step in the page under the Queue button, not a
browser dialog.

dashboard.py's submit callback calls `decide` first; the buttons of the
warning are inputs of that callback (pattern ids, so they may come and go).
A button carries the form's token: after the form changed, a click on an old
warning's button checks again instead of queueing what it did not show.
"""
from __future__ import annotations

from typing import Any, Sequence

from dash import ALL, html

from mltrack import views
from mltrack.store import Job, Store, fingerprints
from mltrack.task import Schema

KIND = "already-ran"
BUTTONS = {"type": KIND, "action": ALL, "token": ALL}  # the submit callback's input
SHOWN = 5  # matches listed in a sweep's warning; the rest counted


def run_href(iid: str) -> str:
    """The page with the table filtered to the run and the run view showing it."""
    return f"/?q={iid}&ticked={iid}#runs"


def find(store: Store, schema: Schema, jobs: Sequence[dict[str, Any]]) -> list[Job | None]:
    """For each job of the form, the existing job to show (the one if_exists=skip
    would answer with, else the newest, failed or cancelled), or None."""
    out: list[Job | None] = []
    for params in jobs:
        same = fingerprints.same_jobs(store, schema.name, params)
        out.append(fingerprints.existing(same) or (same[0] if same else None))
    return out


def result_text(job: Job, schema: Schema) -> str:
    """The job's status and its primary metric's last value, in words."""
    metric = schema.primary.name
    value = job.metrics.get(metric)
    shown = f", {views.header_name(metric)} {views.short_number(value)}" if value is not None \
        else ""
    return f"{job.status.value}{shown}"


def _match(job: Job, schema: Schema) -> html.Li:
    return html.Li([html.A(f"run {job.iid[:8]}", href=run_href(job.iid), className="run-link"),
                    f" ({result_text(job, schema)})"], className="already-ran-match")


def _button(label: str, action: str, token: str, primary: bool = False) -> html.Button:
    return html.Button(label, id={"type": KIND, "action": action, "token": token}, n_clicks=0,
                       className="button" + (" primary" if primary else ""))


def warning(schema: Schema, jobs: Sequence[dict[str, Any]], found: Sequence[Job | None],
            token: str) -> html.Div:
    """What the form says when some of its jobs exist."""
    hits = [j for j in found if j is not None]
    new = sum(1 for j in found if j is None or j.status not in fingerprints.REUSABLE)
    if len(jobs) == 1:
        job = hits[0]
        again = "ran before" if job.status not in fingerprints.REUSABLE else "exists already"
        text = [f"This job {again}: ", html.A(f"run {job.iid[:8]}", href=run_href(job.iid),
                                              className="run-link"),
                f" ({result_text(job, schema)}). Queue it again?"]
        buttons = [_button("Queue again", "all", token, primary=True),
                   _button("Cancel", "cancel", token)]
        return html.Div([html.P(text), html.Div(buttons, className="already-ran-buttons")],
                        className="already-ran", id="already-ran")
    listed = [_match(j, schema) for j in hits[:SHOWN]]
    if len(hits) > SHOWN:
        listed.append(html.Li(f"… and {len(hits) - SHOWN} more", className="muted"))
    buttons = [_button(f"Queue all {len(jobs)} again", "all", token)]
    if new:
        buttons.insert(0, _button(f"Queue the {new} new only", "new", token, primary=True))
    buttons.append(_button("Cancel", "cancel", token))
    return html.Div([html.P(f"{len(hits)} of these {len(jobs)} jobs exist already:"),
                     html.Ul(listed), html.Div(buttons, className="already-ran-buttons")],
                    className="already-ran", id="already-ran")


def decide(store: Store, schema: Schema, jobs: list[dict[str, Any]], trigger: Any,
           token: Any) -> tuple[Any, list[dict[str, Any]]]:
    """(what to show instead of queueing, or None; the jobs to queue). `trigger`
    is the callback's triggered id: the Queue button or a warning's button."""
    action = None
    if isinstance(trigger, dict) and trigger.get("type") == KIND and trigger.get("token") == token:
        action = trigger.get("action")
    if action == "cancel":
        return "Not queued.", []
    if action == "all":
        return None, jobs
    found = find(store, schema, jobs)
    if action == "new":
        return None, [p for p, j in zip(jobs, found)
                      if j is None or j.status not in fingerprints.REUSABLE]
    if not any(j is not None for j in found):
        return None, jobs
    return warning(schema, jobs, found, token if isinstance(token, str) else ""), []
