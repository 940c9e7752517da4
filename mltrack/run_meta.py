"""The run view's tags, note and model block: for each shown run, its tags
(a text box, space separated) and note, saved with one button, and a download
button for a done run's trained model.

The block is drawn when the shown runs or their statuses change, never on a
refresh alone, so what the user is typing is not replaced under them. The
rules are the store's (store/annotations.py); a refused value is said next to
the run, with nothing saved.
"""
from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from mltrack import views
from mltrack.annotations_api import MODELS_EXTENSION, model_missing
from mltrack.store import InvalidValue, Job, JobNotFound, Status, Store, annotations

MAX_SHOWN = 20  # the run view's MAX_RUNS_SHOWN
# every block's widgets (ALL, not MATCH: the callback exists before any block does)
TAGS = {"type": "meta-tags", "iid": ALL}
NOTE = {"type": "meta-note", "iid": ALL}
SAVE = {"type": "meta-save", "iid": ALL}
SAID = {"type": "meta-said", "iid": ALL}


def layout() -> list[Any]:
    return [html.Div(id="run-meta", className="run-meta"), dcc.Store(id="run-meta-signature")]


def _download(store: Store, models: Any, job: Job) -> Any:
    if job.status is not Status.DONE:
        return None
    try:
        why = model_missing(store, models, job.iid)
    except JobNotFound:
        return None
    if why is not None:
        return html.Span(f"no model: {why}", className="muted model-missing")
    return html.A("Download model", href=f"/experiments/{job.iid}/model",
                  download=f"{job.task}-{job.iid}.mltmodel", className="button model-download",
                  id={"type": "meta-model", "iid": job.iid})


def run_block(store: Store, models: Any, job: Job, label: str) -> html.Div:
    """One run's tags, note and model."""
    iid = job.iid
    return html.Div([
        html.Div([html.Span(job.status.value, className=f"status-dot status-{job.status.value}"),
                  label], className="meta-title"),
        html.Label("Tags", htmlFor=f"meta-tags-{iid}", className="field-label"),
        dcc.Input(id={"type": "meta-tags", "iid": iid}, value=" ".join(job.tags), type="text",
                  debounce=False, placeholder="e.g. baseline v2 (space separated)",
                  className="meta-tags-input"),
        html.Label("Note", className="field-label"),
        dcc.Textarea(id={"type": "meta-note", "iid": iid}, value=job.note or "",
                     className="meta-note-input", maxLength=annotations.MAX_NOTE),
        html.Div([
            html.Button("Save tags and note", id={"type": "meta-save", "iid": iid}, n_clicks=0,
                        className="button"),
            html.Span(id={"type": "meta-said", "iid": iid}, className="meta-said"),
            _download(store, models, job),
        ], className="meta-actions"),
    ], className="run-meta-block", **{"data-iid": iid})


def save(store: Store, iid: str, tags_text: Any, note: Any) -> str:
    """Save what the boxes hold; what to say beside the button."""
    if not isinstance(tags_text, (str, type(None))) or not isinstance(note, (str, type(None))):
        return "not saved: not text"
    try:
        names = annotations.tag_names((tags_text or "").split())  # checked before any write
        annotations.note_text(note or "")
        tags = annotations.set_tags(store, iid, names)
        annotations.set_note(store, iid, note or "")
    except InvalidValue as exc:
        return f"not saved: {exc}"
    except JobNotFound:
        return "not saved: the run was deleted"
    return "saved" + (f" (tags: {' '.join(tags)})" if tags else "")


def register_callbacks(app: dash.Dash, store: Store, chosen_input: Input) -> None:
    """Draw the block for the runs `chosen_input` names (the run selector's
    value), and save each run's edits."""

    @app.callback(Output("run-meta", "children"), Output("run-meta-signature", "data"),
                  chosen_input, Input("tick", "n_intervals"), State("run-meta-signature", "data"))
    def draw(chosen, _tick, signature):
        chosen = views.chosen_iids(chosen, MAX_SHOWN * 5)
        if chosen is None:
            raise PreventUpdate
        jobs = store.get_many(chosen[:MAX_SHOWN])
        models = app.server.extensions.get(MODELS_EXTENSION)

        def without_model() -> list[str]:
            # a model on its way from a worker: its button appears when it arrives
            return [j.iid for j in jobs if j.status is Status.DONE and models is not None
                    and models.find(j.iid) is None]

        seen = [[j.iid, j.status.value] for j in jobs]
        if signature == [*seen, without_model()]:
            raise PreventUpdate
        schemas = store.schemas()
        blocks = [run_block(store, models, j, f"{j.task} · "
                            f"{views.run_label(j, schemas.get(j.task))}") for j in jobs]
        title = [html.H3("Tags, note and model")] if blocks else []
        return title + blocks, [*seen, without_model()]  # after drawing moved what came

    @app.callback(Output(SAID, "children"), Input(SAVE, "n_clicks"), State(TAGS, "value"),
                  State(NOTE, "value"), prevent_initial_call=True)
    def save_meta(_clicks, _tags, _notes):
        ctx = dash.ctx
        iid = ctx.triggered_id.get("iid") if isinstance(ctx.triggered_id, dict) else None
        if not views.is_iid(iid) or not ctx.triggered or not ctx.triggered[0].get("value"):
            raise PreventUpdate  # nothing clicked (a block drawn)

        def of(items: Any) -> Any:  # the value of the clicked run's widget
            return next((i.get("value") for i in items if isinstance(i, dict)
                         and isinstance(i.get("id"), dict) and i["id"].get("iid") == iid), None)

        said = save(store, iid, of(ctx.states_list[0]), of(ctx.states_list[1]))
        return [said if isinstance(o, dict) and o.get("id", {}).get("iid") == iid
                else dash.no_update for o in ctx.outputs_list]
