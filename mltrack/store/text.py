"""Text search over jobs without scanning them all.

Each job is indexed under its tokens: its iid and each hyperparameter's value
(lower case, split at spaces). A search word matches a job when one of the
job's tokens starts with it (`sgd`, `0.01`, `3f0c`); a word that names a status
(`done`) matches the jobs in that status. Every word must match.

A search gathers each word's jobs into a temporary set, word by word and a
bounded number of tokens per call, intersects them, and then reads one page in
the order of the listing: by sorting the matches' scores when they are few, by
walking the sort index in stretches when they are many (then a page fills
within a few stretches). So no single Redis call holds the server for long, and
a page costs about the number of matches, not the number of jobs.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

from mltrack.store.keys import Keys
from mltrack.store.model import Status

MAX_WORDS = 8
TOKENS_PER_CALL = 200  # token sets a word gathers per call
FEW_MATCHES = 2000  # up to this many matches, sort them; above, walk the index
WALK_STRETCH = 2000  # index entries one walk call reads
_STATUSES = {s.value for s in Status}


def text_tokens(iid: str, hyper_params: dict[str, Any]) -> str:
    """The job's tokens, space separated (as the scripts store them)."""
    tokens = {iid}
    for value in hyper_params.values():
        text = value if isinstance(value, str) else json.dumps(value)
        tokens.update(text.lower().split())
    return " ".join(sorted(tokens))


@dataclass(frozen=True)
class Query:
    words: tuple[str, ...]  # token prefixes, every one must match
    statuses: frozenset[str] | None  # the job's status must be one of these (None: any)

    @classmethod
    def parse(cls, text: str) -> "Query":
        words, statuses = [], None
        for word in dict.fromkeys(text.lower().split()):
            if word in _STATUSES:
                statuses = (statuses or frozenset(_STATUSES)) & {word}
            elif len(words) < MAX_WORDS:
                words.append(word)
        return cls(tuple(words), statuses)


class Search:
    """One search, run against the store's Redis with its scripts."""

    def __init__(self, client: Any, keys: Keys, scripts: dict[str, Any]):
        self.redis, self.keys, self.scripts = client, keys, scripts

    def page(self, query: Query, segments: list[tuple[str, bool]], offset: int,
             limit: int) -> tuple[int, list[str]]:
        """(total, iids of the page): the matches in the order of `segments`,
        the sorted sets (key, descending) that a listing reads one after another."""
        scratch = [self.keys.scratch(uuid.uuid4().hex) for _ in query.words]
        try:
            matches = self._gather(query.words, scratch)
            if matches is None:  # no word: every job in the segments matches
                return self._all(segments, offset, limit)
            if self.redis.scard(matches) <= FEW_MATCHES:
                total, *iids = self.scripts["search_page"](
                    args=[self.keys.prefix, matches, offset, limit,
                          *(x for key, desc in segments for x in (key, int(desc)))])
                return int(total), iids
            return self._walk(matches, segments, offset, limit)
        finally:
            if scratch:
                self.redis.delete(*scratch)

    def _gather(self, words: Iterable[str], scratch: list[str]) -> str | None:
        """A set of the jobs every word matches (a scratch key), or None without words."""
        for word, dest in zip(words, scratch):
            first = 0
            while True:
                took = self.scripts["search_word"](
                    args=[self.keys.prefix, word, dest, first, TOKENS_PER_CALL])
                first += took
                if took < TOKENS_PER_CALL:
                    break
        if not scratch:
            return None
        if len(scratch) > 1:
            # smallest first: SINTERSTORE walks the first set's members
            sizes = self._pipe(lambda p: [p.scard(k) for k in scratch])
            ordered = [k for _, k in sorted(zip(sizes, scratch))]
            self.redis.sinterstore(scratch[0], ordered)
        return scratch[0]

    def _walk(self, matches: str, segments: list[tuple[str, bool]], offset: int,
              limit: int) -> tuple[int, list[str]]:
        totals = self._pipe(lambda p: [p.zintercard(2, [key, matches]) for key, _ in segments])
        iids: list[str] = []
        skip = offset
        for (key, desc), found in zip(segments, totals):
            if skip >= found:  # the whole segment lies before the page
                skip -= found
                continue
            start = 0
            while len(iids) < limit:
                scanned, *hits = self.scripts["search_walk"](
                    args=[self.keys.prefix, matches, key, int(desc), start, WALK_STRETCH])
                taken = hits[skip:]
                skip = max(0, skip - len(hits))
                iids += taken[:limit - len(iids)]
                start += WALK_STRETCH
                if scanned < WALK_STRETCH:
                    break
            if len(iids) >= limit:
                break
        return sum(totals), iids

    def _all(self, segments: list[tuple[str, bool]], offset: int,
             limit: int) -> tuple[int, list[str]]:
        sizes = self._pipe(lambda p: [p.zcard(key) for key, _ in segments])
        iids: list[str] = []
        skip = offset
        for (key, desc), size in zip(segments, sizes):
            if len(iids) >= limit:
                break
            if skip >= size:
                skip -= size
                continue
            end = skip + limit - len(iids) - 1
            iids += self.redis.zrange(key, skip, end, desc=desc)
            skip = 0
        return sum(sizes), iids

    def _pipe(self, queue) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        queue(pipe)
        return pipe.execute()
