"""The key scheme on the Python side; lua/helpers.lua spells the same keys for the scripts."""
from __future__ import annotations


class Keys:
    """Every key of one mltrack, under one prefix (so several can share a Redis)."""

    def __init__(self, prefix: str):
        if not prefix:
            raise ValueError("the key prefix must not be empty")
        self.prefix = prefix
        self.tasks = f"{prefix}tasks"
        self.leases = f"{prefix}leases"
        self.workers = f"{prefix}workers"
        self.vocab = f"{prefix}text:vocab"
        self.text_indexed = f"{prefix}text:indexed"  # set once every job is in the text index
        # runmeta: set once every job is in the fingerprint index (fingerprints.py)
        self.fp_indexed = f"{prefix}fp:indexed"
        self.models_pending = f"{prefix}models:pending"  # iids whose model waits in Redis

    def job(self, iid: str) -> str:
        return f"{self.prefix}job:{iid}"

    def epochs(self, iid: str) -> str:
        return f"{self.prefix}job:{iid}:epochs"

    def tombstone(self, iid: str) -> str:
        """Set for a day when a job is deleted (lua/delete.lua)."""
        return f"{self.prefix}deleted:{iid}"

    def checkpoint(self, iid: str) -> str:
        return f"{self.prefix}job:{iid}:checkpoint"

    def queue(self, task: str) -> str:
        return f"{self.prefix}queue:{task}"

    def worker(self, worker: str) -> str:
        return f"{self.prefix}worker:{worker}"

    def index(self, scope: str, key: str) -> str:
        return f"{self.prefix}idx:{scope}:{key}"

    def scratch(self, name: str) -> str:
        """A short-lived key of one call (deleted by it, expiring anyway)."""
        return f"{self.prefix}tmp:{name}"

    def token(self, token: str) -> str:
        return f"{self.prefix}text:tok:{token}"

    def search_jobs(self, search_id: str) -> str:
        """The set of a search's trial iids (store/searches.py has the search's other keys)."""
        return f"{self.prefix}search:{search_id}:jobs"

    # -- runmeta: "already ran?", tags, models (fingerprints.py, annotations.py, models.py)
    def fingerprint(self, digest: str) -> str:
        """The iids of the jobs of one task with the same hyperparameters."""
        return f"{self.prefix}fp:{digest}"

    def tag(self, name: str) -> str:
        """The iids of the jobs tagged `name`."""
        return f"{self.prefix}tag:{name}"

    def model(self, iid: str) -> str:
        """A done job's model, on its way from a worker to a server's disk."""
        return f"{self.prefix}job:{iid}:model"
