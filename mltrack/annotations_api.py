"""REST routes of a run's annotations and artefacts: tags, note, the trained model.

    PUT  /experiments/<iid>/tags   {"tags": [...]}                -> {"iid", "tags"}
    POST /experiments/<iid>/tags   {"add": [...], "remove": [...]} -> {"iid", "tags"}
    PUT  /experiments/<iid>/note   {"note": "..."}                 -> {"iid", "note"}
    GET  /experiments/<iid>/model  the model file (application/octet-stream)

The rules are store/annotations.py's; the bodies' JSON Schemas are in
api_spec.ROUTES. A run that was deleted is a 404 saying so (not the 410 that
tracked scripts get: nothing here is a script that should stop).
"""
from __future__ import annotations

import functools

from flask import Flask, jsonify, send_file

from mltrack.api import body_of, error, is_iid
from mltrack.api_spec import ROUTES
from mltrack.model_files import ModelFiles
from mltrack.store import JobDeleted, JobNotFound, Status, Store, annotations
from mltrack.store import models as pending_models

MODELS_EXTENSION = "mltrack.models"  # server.extensions key: the ModelFiles (or None)


def _iid(iid: str) -> str:
    if not is_iid(iid):
        raise JobNotFound(iid)
    return iid


def model_missing(store: Store, models: ModelFiles | None, iid: str) -> str | None:
    """Why run `iid` has no model to download here (None: the file is there).
    Moves the model from Redis to disk first if it waits there."""
    job = store.get(iid)
    if job.status is not Status.DONE:
        return (f"run {iid} is {job.status.value}: only a done run has a model (its final "
                "weights)")
    if models is None:
        return "this mltrack keeps no models (it was started without a data dir)"
    models.collect(store, [iid])
    if models.find(iid) is not None:
        return None
    size, where = pending_models.model_info(store, iid)
    if size is None:
        return (f"run {iid} saved no model (its task does not call run.save_model, or it "
                "finished before mltrack kept models)")
    if models.keep == 0:
        return "this mltrack keeps no models (--keep-models 0)"
    if where is not None and where != models.where:
        return f"the model of run {iid} is kept by another mltrack, at {where}"
    if where is not None:
        return (f"the model of run {iid} is no longer kept: only the {models.keep} most "
                f"recent models are (--keep-models {models.keep})")
    return (f"the model of run {iid} never reached a server's disk (no mltrack took it "
            "from the database within a day of the run's end)")


def register_annotations_api(server: Flask, store: Store, models: ModelFiles | None) -> None:
    """Mount the routes; `models` is where this server keeps models (None: none).
    A deleted run's model file goes with it (the store's delete hook)."""
    server.extensions[MODELS_EXTENSION] = models
    if models is not None:
        store.on_delete.append(models.remove)

    def deleted(exc: JobDeleted):
        return error(404, f"run {exc.iid} was deleted")

    def deleted_is_404(view):
        """A deleted run is 404 "was deleted" here (the app-wide 410 is a tracked
        run's write told that its run is gone)."""
        @functools.wraps(view)
        def wrapped(iid: str):
            try:
                return view(iid)
            except JobDeleted as exc:
                return deleted(exc)
        return wrapped

    @server.put("/experiments/<iid>/tags")
    @deleted_is_404
    def set_tags(iid: str):
        body = body_of(ROUTES["set_tags"])
        tags = annotations.set_tags(store, _iid(iid), body["tags"])
        return jsonify(iid=iid, tags=tags)

    @server.post("/experiments/<iid>/tags")
    @deleted_is_404
    def edit_tags(iid: str):
        body = body_of(ROUTES["edit_tags"])
        tags = annotations.edit_tags(store, _iid(iid), body.get("add", []),
                                     body.get("remove", []))
        return jsonify(iid=iid, tags=tags)

    @server.put("/experiments/<iid>/note")
    @deleted_is_404
    def set_note(iid: str):
        body = body_of(ROUTES["set_note"])
        note = annotations.set_note(store, _iid(iid), body["note"])
        return jsonify(iid=iid, note=note)

    @server.get("/experiments/<iid>/model")
    def model(iid: str):
        if store.redis.exists(store.keys.tombstone(_iid(iid))):  # said as tags/note say it
            return deleted(JobDeleted(iid))
        why = model_missing(store, models, iid)
        job = store.get(iid)
        if why is not None:
            return error(404, why)
        try:  # given the path, werkzeug answers Range (206, resumable) and HEAD's length;
            # it opens the file here: pruned a moment later, it is still sent whole
            return send_file(models.path(iid), mimetype="application/octet-stream",
                             as_attachment=True, download_name=f"{job.task}-{iid}.mltmodel",
                             max_age=0, conditional=True)
        except FileNotFoundError:
            return error(404, f"the model of run {iid} was just removed (--keep-models "
                              f"{models.keep})")
