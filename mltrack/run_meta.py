"""The run view's tags, note and model block: for each shown run, its tags
(a text box, space separated) and note, saved with one button, and a download
button for a done run's trained model.

The block is drawn when the shown runs or their statuses change, never on a
refresh alone, so what the user is typing is not replaced under them. The
rules are the store's (store/annotations.py); a refused value is said next to
the run, with nothing saved.

Tags and note may change elsewhere (the API, the CLI, another tab) while the
block is on screen, so Save never writes the box's content over the run's:
each block remembers what it drew (`meta-drawn`), Save sends only the tags
added and removed since (POST-style edit), and replaces the note only if it
is still the one drawn; a note changed meanwhile is refused, shown, and a
second Save replaces it knowingly. After a save the box shows the run's tags
as stored (with those added elsewhere).
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
DRAWN = {"type": "meta-drawn", "iid": ALL}  # {"tags": [...], "note": str}: what the box began with
SHOWN_NOTE = 300  # characters of a note changed elsewhere shown in the refusal


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
        dcc.Store(id={"type": "meta-drawn", "iid": iid},
                  data={"tags": list(job.tags), "note": job.note or ""}),
        html.Div([html.Span(job.status.value, className=f"status-dot status-{job.status.value}"),
                  label], className="meta-title"),
        html.Label("Tags", className="field-label"),
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


def _drawn(drawn: Any) -> tuple[list[str], str] | None:
    """The tags and note a block was drawn with (None: not what draw() made)."""
    if not isinstance(drawn, dict) or not isinstance(drawn.get("note"), str):
        return None
    try:
        return annotations.tag_names(drawn.get("tags")), annotations.note_text(drawn["note"])
    except InvalidValue:
        return None


def save(store: Store, iid: str, tags_text: Any, note: Any, drawn: Any
         ) -> tuple[str, dict[str, Any] | None]:
    """Save the edits made since the block was drawn with `drawn`: what to say
    beside the button, and what the block now holds ({"tags", "note"}; None:
    unchanged)."""
    if not isinstance(tags_text, (str, type(None))) or not isinstance(note, (str, type(None))):
        return "not saved: not text", None
    before = _drawn(drawn)
    if before is None:
        return "not saved: this block is out of date; reload the page", None
    old_tags, old_note = before
    try:
        names = annotations.tag_names((tags_text or "").split())  # checked before any write
        text = annotations.note_text(note or "")
        if text != old_note:  # replaced only if nobody changed it since it was drawn
            annotations.set_note(store, iid, text, seen=old_note)
        added = [t for t in names if t not in old_tags]
        removed = [t for t in old_tags if t not in names]
        try:
            tags = annotations.edit_tags(store, iid, added, removed) if added or removed \
                else store.get(iid).tags
        except InvalidValue as exc:
            if text == old_note:
                raise
            return (f"note saved; tags not saved: {exc}",
                    {"tags": old_tags, "note": text})
    except annotations.NoteChanged as exc:
        now = exc.current or ""
        shown = now if len(now) <= SHOWN_NOTE else now[:SHOWN_NOTE] + "…"
        # drawn now with that note: a second Save replaces it, knowingly
        return (f"not saved: the note was changed elsewhere since this box was drawn; it "
                f"now reads {shown!r}. Save again to replace it with yours.",
                {"tags": old_tags, "note": now})
    except InvalidValue as exc:
        return f"not saved: {exc}", None
    except JobNotFound:
        return "not saved: the run was deleted", None
    return "saved" + (f" (tags: {' '.join(tags)})" if tags else ""), {"tags": tags, "note": text}


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

    @app.callback(Output(SAID, "children"), Output(DRAWN, "data"), Output(TAGS, "value"),
                  Input(SAVE, "n_clicks"), State(TAGS, "value"), State(NOTE, "value"),
                  State(DRAWN, "data"), prevent_initial_call=True)
    def save_meta(_clicks, _tags, _notes, _drawn):
        ctx = dash.ctx
        iid = ctx.triggered_id.get("iid") if isinstance(ctx.triggered_id, dict) else None
        if not views.is_iid(iid) or not ctx.triggered or not ctx.triggered[0].get("value"):
            raise PreventUpdate  # nothing clicked (a block drawn)

        def of(items: Any) -> Any:  # the value of the clicked run's widget
            return next((i.get("value") for i in items if isinstance(i, dict)
                         and isinstance(i.get("id"), dict) and i["id"].get("iid") == iid), None)

        said, now = save(store, iid, of(ctx.states_list[0]), of(ctx.states_list[1]),
                         of(ctx.states_list[2]))

        def only_clicked(value: Any, outputs: Any) -> list[Any]:
            return [value if isinstance(o, dict) and o.get("id", {}).get("iid") == iid
                    else dash.no_update for o in outputs]

        saved = said.startswith("saved")  # the box then shows the run's tags as stored
        return (only_clicked(said, ctx.outputs_list[0]),
                only_clicked(now if now is not None else dash.no_update, ctx.outputs_list[1]),
                only_clicked(" ".join(now["tags"]) if saved else dash.no_update,
                             ctx.outputs_list[2]))
