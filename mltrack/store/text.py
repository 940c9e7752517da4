"""Text search over jobs without scanning them all.

Each job is indexed under its tokens: its iid and each hyperparameter's value
(lower case, split at spaces), and its task's name. A search word matches a job when one of the
job's tokens starts with it (`sgd`, `0.01`, `3f0c`); a word that names a status
(`done`) matches the jobs in that status. A word that compares a sort name
with a number (`test_accuracy>97`, `learning_rate<=0.01`, `best_loss<0.2`)
keeps the jobs whose value in that sort's index is in range. Every word must
match.

A word that is one token has its set of jobs already. A word that spans several
tokens (`ada`: adam and adamw) has its set gathered from theirs, a bounded
stretch per call, and kept while it is searched for (creates and deletes keep
the kept sets true; the least recently used go beyond WORDS_KEPT). A page is
then read in the order of the listing: by sorting the matches' scores when
they are few, by walking the sort index in stretches when they are many (then
a page fills within a few stretches). So no single Redis call holds the server
for long, and a page costs about the number of matches at most, never the
number of jobs.
"""
from __future__ import annotations

import json
import math
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

from mltrack.store import annotations  # runmeta: tag:x words fold as tags do
from mltrack.store.keys import Keys
from mltrack.store.model import Status

MAX_WORDS = 8
TOKENS_PER_CALL = 200  # tokens a build reads or copies per call
COPY_BUDGET = 4000  # jobs a build copies per call (a few ms)
WORDS_KEPT = 64  # words whose matches are kept (the least recently used go)
FEW_MATCHES = 2000  # up to this many matches, sort them; above, walk the index
WALK_STRETCH = 2000  # index entries one walk call reads
_STATUSES = {s.value for s in Status}
TAG_WORD = "tag:"  # runmeta: `tag:baseline` keeps the jobs tagged baseline
MAX_TAG_WORDS = 20
_OPERATORS = (">=", "<=", ">", "<", "=")
# a filter word: a name, an operator, a value (spaces around the operator allowed)
_FILTER = re.compile(r"^([^<>=\s]+)(>=|<=|>|<|=)(\S+)$")
_SPACED_OPERATOR = re.compile(r"\s*(>=|<=|>|<|=)\s*")


def text_tokens(iid: str, hyper_params: dict[str, Any], task: str) -> str:
    """The job's tokens, space separated (as the scripts store them)."""
    tokens = {iid, task}
    for value in hyper_params.values():
        text = value if isinstance(value, str) else json.dumps(value)
        tokens.update(text.lower().split())
    return " ".join(sorted(tokens))


class InvalidFilter(ValueError):
    """A filter word that cannot be applied; the message names it and the rule."""


@dataclass(frozen=True)
class Filter:
    """`name op value`, as typed: a sort name compared with a number."""
    name: str
    operator: str
    value: float

    @property
    def text(self) -> str:
        return f"{self.name}{self.operator}{self.value:g}"

    def bounds(self) -> tuple[str, str]:
        """(min, max) in Redis's score-range syntax: `(` excludes."""
        number = repr(self.value)
        return {">": (f"({number}", "+inf"), ">=": (number, "+inf"),
                "<": ("-inf", f"({number}"), "<=": ("-inf", number),
                "=": (number, number)}[self.operator]


def _filter(word: str) -> Filter | None:
    match = _FILTER.match(word)
    if match is None:
        return None
    name, operator, text = match.groups()
    try:
        value = float(text)
    except ValueError:
        raise InvalidFilter(f"filter {word!r}: {text!r} is not a number (a filter compares a "
                            f"column with a number, as in test_accuracy>97)") from None
    if not math.isfinite(value):
        raise InvalidFilter(f"filter {word!r}: the number must be finite")
    return Filter(name, operator, value)


@dataclass(frozen=True)
class Query:
    words: tuple[str, ...]  # token prefixes, every one must match
    statuses: frozenset[str] | None  # the job's status must be one of these (None: any)
    filters: tuple[Filter, ...] = ()  # value ranges, every one must hold
    tags: tuple[str, ...] = ()  # runmeta: `tag:x` words, the job must have every one
    sets: tuple[str, ...] = ()  # search: sets of iids the job must be in (a search's trials)

    @classmethod
    def parse(cls, text: str) -> "Query":
        """The query typed; InvalidFilter for a filter word that is not one."""
        words, statuses, filters, tags = [], None, [], []
        text = _SPACED_OPERATOR.sub(lambda m: m.group(1), text.lower())
        for word in dict.fromkeys(text.split()):
            if word.startswith(TAG_WORD) and len(word) > len(TAG_WORD):  # runmeta
                tags.append(annotations.fold(word[len(TAG_WORD):]))  # as tags are stored
            elif word in _STATUSES:
                statuses = (statuses or frozenset(_STATUSES)) & {word}
            elif (found := _filter(word)) is not None:
                if len(filters) < MAX_WORDS:
                    filters.append(found)
            elif any(op in word for op in _OPERATORS):
                raise InvalidFilter(f"{word!r}: a filter is a column, a comparison and a number, "
                                    "as in test_accuracy>97")
            elif len(words) < MAX_WORDS:
                words.append(word)
        if len(tags) > MAX_TAG_WORDS:  # runmeta: said, not cut (as ?tag= x21 is a 400)
            raise InvalidFilter(f"at most {MAX_TAG_WORDS} tag: words, got {len(tags)}")
        return cls(tuple(words), statuses, tuple(filters), tuple(tags))


# A range condition: (sorted set, min, max), scores in Redis's range syntax.
Range = tuple[str, str, str]


class Search:
    """One search, run against the store's Redis with its scripts."""

    def __init__(self, client: Any, keys: Keys, scripts: dict[str, Any]):
        self.redis, self.keys, self.scripts = client, keys, scripts

    def page(self, query: Query, segments: list[tuple[str, bool]], scopes: list[str] | None,
             offset: int, limit: int, ranges: list[Range] = ()) -> tuple[int, list[str]]:
        """(total, iids of the page): the jobs matching the query's words and
        within every range (at least one word or range) in the order of
        `segments`, the sorted sets (key, descending) a listing reads one after
        another. When they hold every job of `scopes` (index scopes: all, a
        status, a task...), word matches are counted there, which is quicker;
        else (None) in the segments."""
        sets = self._word_sets(query.words)
        if sets is None:  # a word that matches nothing
            return 0, []
        sets += [self.keys.tag(t) for t in query.tags]  # runmeta: each tag's set of jobs
        sets += list(query.sets)  # search: its trials' set
        ranges = list(ranges)
        sizes = self._pipe(lambda p: [p.scard(k) for k in sets]
                           + [p.zcount(key, low, high) for key, low, high in ranges])
        set_sizes, range_sizes = sizes[:len(sets)], sizes[len(sets):]
        if 0 in sizes:
            return 0, []
        sets = [k for _, k in sorted(zip(set_sizes, sets))]  # smallest first
        ranges = [r for _, r in sorted(zip(range_sizes, ranges))]
        if min(sizes) <= FEW_MATCHES:
            # the smallest set or range is the source of candidates
            if sets and min(set_sizes) == min(sizes):
                source, sets = ["set", sets[0], "", ""], sets[1:]
            else:
                source, ranges = ["range", *ranges[0]], ranges[1:]
            total, *iids = self.scripts["search_page"](args=[
                self.keys.prefix, offset, limit, *source, *_conditions(sets, ranges),
                *(x for key, desc in segments for x in (key, int(desc)))])
            return int(total), iids
        return (self._count(sets, ranges, scopes, segments),
                self._walk(sets, ranges, segments, offset, limit))

    def _word_sets(self, words: Iterable[str]) -> list[str] | None:
        """For each word the key of the set of jobs it matches; None if one matches none."""
        sets = []
        for word in words:
            key = self._word_set(word)
            if key is None:
                return None
            sets.append(key)
        return sets

    def _word_set(self, word: str) -> str | None:
        build = uuid.uuid4().hex
        while True:
            kind, *key = self.scripts["search_word"](args=[self.keys.prefix, word, build,
                                                           WORDS_KEPT])
            if kind == "NONE":
                return None
            if kind in ("TOKEN", "CACHED"):
                return key[0]
            if kind == "BUILD" and self._build(word, build):
                return key[0]
            # another search builds this word (the server gives up on it
            # after a few seconds): wait for it
            time.sleep(0.01)

    def _build(self, word: str, build: str) -> bool:
        """Fill a word's set from its tokens' sets, a bounded stretch per call;
        False if the build was given up (another search took it over)."""
        low, high = b"[" + word.encode(), b"[" + word.encode() + b"\xff"
        first = 0
        while True:
            tokens = self.redis.zrangebylex(self.keys.vocab, low, high, first, TOKENS_PER_CALL)
            i, cursor = 0, "0"
            while i < len(tokens):
                finished, *rest = self.scripts["search_copy"](args=[
                    self.keys.prefix, word, build, COPY_BUDGET, cursor,
                    *tokens[i:i + TOKENS_PER_CALL]])
                if finished == -1:
                    return False
                i, cursor = i + finished, rest[0]
            if len(tokens) < TOKENS_PER_CALL:
                break
            first += TOKENS_PER_CALL
        return bool(self.scripts["search_built"](args=[self.keys.prefix, word, build]))

    def _count(self, sets: list[str], ranges: list[Range], scopes: list[str] | None,
               segments: list[tuple[str, bool]]) -> int:
        """How many jobs of the listing are in every set and range. A range is
        copied out of its index for the count (one command, about 1 ms per
        5,000 members) and dropped at once."""
        if scopes == ["all"] and not ranges:
            return self.redis.scard(sets[0]) if len(sets) == 1 else self.redis.sintercard(
                len(sets), sets)
        listed = ([self.keys.index(scope, "created") for scope in scopes] if scopes is not None
                  else [key for key, _ in segments])
        scratch = [self.keys.scratch(uuid.uuid4().hex) for _ in ranges]
        keys = [*sets, *scratch]

        def count(pipe: Any) -> None:
            for temp, (key, low, high) in zip(scratch, ranges):
                pipe.zrangestore(temp, key, low, high, byscore=True)
                pipe.expire(temp, 60)  # gone even if this call dies here
            for key in listed:
                pipe.zintercard(1 + len(keys), [key, *keys])
            if scratch:
                pipe.delete(*scratch)

        answers = self._pipe(count)
        return sum(answers[2 * len(ranges):][:len(listed)])

    def _walk(self, sets: list[str], ranges: list[Range], segments: list[tuple[str, bool]],
              offset: int, limit: int) -> list[str]:
        """Walk the segments in stretches until the page is full (many matches:
        a few stretches hold a page)."""
        iids: list[str] = []
        skip = offset
        conditions = _conditions(sets, ranges)
        for key, desc in segments:
            start = 0
            while len(iids) < limit:
                read, *hits = self.scripts["search_walk"](
                    args=[self.keys.prefix, key, int(desc), start, WALK_STRETCH, *conditions])
                iids += hits[skip:][:limit - len(iids)]
                skip = max(0, skip - len(hits))
                start += WALK_STRETCH
                if read < WALK_STRETCH:
                    break
        return iids

    def _pipe(self, queue) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        queue(pipe)
        return pipe.execute()


def _conditions(sets: list[str], ranges: list[Range]) -> list[Any]:
    """The scripts' spelling of the conditions: number of sets, the sets,
    number of ranges, each range's sorted set, min and max."""
    return [len(sets), *sets, len(ranges), *(x for r in ranges for x in r)]
