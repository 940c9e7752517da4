"""Tags and a note on any job (queued, tracked, a search's trial), and the sets
of jobs per tag that listings filter by (`?tag=`, `tag:x` in the query box).

A tag is 1-40 letters (any script, with their combining marks: `हिंदी`),
digits or `- _ . :`, compared without case or width: it is stored NFKC-normalised
in lower case, so `Baseline`, `baseline` and full-width `ｂａｓｅｌｉｎｅ` are one tag. A job has at most MAX_TAGS tags, in the order they were added, each
once. A note is free text of at most MAX_NOTE characters (no control
characters but newline and tab); an empty (or blank) note, or None, removes it. Each write is one Lua script (`tags.lua`,
`note.lua`): it checks, then writes, and the sets `tag:<name>` follow the
job's tags in the same step; `delete.lua` takes a deleted job out of them.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any, Iterable

from mltrack.store.model import InvalidValue, JobDeleted, JobNotFound

MAX_TAGS = 20
MAX_TAG_LENGTH = 40
MAX_NOTE = 10_000
TAG_RULE = (f"1-{MAX_TAG_LENGTH} letters, digits, '-', '_', '.' or ':' "
            "(no spaces; case does not matter)")
_TAG_CHAR = re.compile(r"[\w.:-]")


def fold(text: str) -> str:
    """A tag as stored and compared: NFKC (full-width and ligature forms are the
    plain letters), then lower case. Also used for `tag:x` query words."""
    return unicodedata.normalize("NFKC", text).lower()


def _is_tag(tag: str) -> bool:
    # Python's \w has no combining marks (categories M*), which scripts such as
    # Devanagari need inside a word; a mark is fine after the first character.
    return bool(tag) and all(_TAG_CHAR.match(c) or (i and unicodedata.category(c)[0] == "M")
                             for i, c in enumerate(tag))


def tag_name(value: Any, field: str = "tags") -> str:
    """One tag as stored (NFC, lower case), or InvalidValue naming `field` and the rule."""
    if not isinstance(value, str):
        raise InvalidValue(field, f"a tag is text: {TAG_RULE}; got {type(value).__name__}")
    tag = fold(value)
    if not (1 <= len(value) <= MAX_TAG_LENGTH and 1 <= len(tag) <= MAX_TAG_LENGTH
            and _is_tag(tag)):
        shown = value if len(value) <= 50 else value[:50] + "…"
        raise InvalidValue(field, f"{shown!r} is not a tag: a tag is {TAG_RULE}")
    return tag


def tag_names(values: Any, field: str = "tags") -> list[str]:
    """A list of tags checked and stored as tags are (each once, in order).
    A string is refused, not read as its characters: a list is wanted."""
    if not isinstance(values, (list, tuple)):
        raise InvalidValue(field, f"must be a list of tags ({TAG_RULE}), got "
                                  f"{type(values).__name__}")
    if len(values) > MAX_TAGS:
        raise InvalidValue(field, f"at most {MAX_TAGS} tags, got {len(values)}")
    return list(dict.fromkeys(tag_name(v, field) for v in values))


def note_text(value: Any) -> str:
    """A note as stored ('' for none: None, '' or blank), or InvalidValue naming
    `note` and the rule."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidValue("note", f"must be text (at most {MAX_NOTE} characters)")
    if len(value) > MAX_NOTE:
        raise InvalidValue("note", f"must be at most {MAX_NOTE} characters, got {len(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate that JSON let through ("\ud800")
        raise InvalidValue("note", "must be valid Unicode text (a lone surrogate is not)") \
            from None
    control = next((c for c in value if c not in "\n\t" and unicodedata.category(c) == "Cc"),
                   None)
    if control is not None:  # NUL and the like end up in CSVs and terminals
        raise InvalidValue("note", f"must not hold control characters (newline and tab are "
                                   f"fine), got U+{ord(control):04X}")
    return "" if not value.strip() else value


def _check(result: list[Any], iid: str) -> list[Any]:
    if result[0] == "NOTFOUND":
        raise JobNotFound(iid)
    if result[0] == "DELETED":
        raise JobDeleted(iid)
    if result[0] == "TOOMANY":
        raise InvalidValue("tags", f"a run has at most {MAX_TAGS} tags; this would make "
                                   f"{result[1]}")
    return result


def set_tags(store: Any, iid: str, tags: Iterable[Any]) -> list[str]:
    """Replace the job's tags; returns them as stored."""
    new = tag_names(tags if isinstance(tags, (list, tuple, str)) else list(tags))
    result = _check(store._run("tags", iid, MAX_TAGS, "set", len(new), *new), iid)
    return result[1].split()


def carry_tags(store: Any, iid: str, tags: Iterable[str]) -> None:
    """Give job `iid` (a retry) the tags of the job it retries, those that pass
    today's rules; one that is gone meanwhile gets none."""
    valid = []
    for tag in tags:
        try:
            valid.append(tag_name(tag))
        except InvalidValue:  # stored under older rules
            pass
    valid = list(dict.fromkeys(valid))[:MAX_TAGS]
    if valid:
        try:
            set_tags(store, iid, valid)
        except (JobNotFound, JobDeleted):
            pass


def edit_tags(store: Any, iid: str, add: Iterable[Any] = (), remove: Iterable[Any] = ()
              ) -> list[str]:
    """Add and remove tags (removing one the job lacks is fine); returns them as stored."""
    added, removed = tag_names(_listed(add), "add"), tag_names(_listed(remove), "remove")
    both = sorted(set(added) & set(removed))
    if both:
        raise InvalidValue("remove", f"{both[0]!r} is both added and removed; say one")
    result = _check(store._run("tags", iid, MAX_TAGS, "edit", len(added), *added, *removed),
                    iid)
    return result[1].split()


def _listed(values: Any) -> Any:
    return values if isinstance(values, (list, tuple, str)) else list(values)


class NoteChanged(Exception):
    """The note is no longer the one the writer saw (changed elsewhere since)."""

    def __init__(self, iid: str, current: str | None):
        super().__init__(f"the note of run {iid} was changed elsewhere")
        self.iid, self.current = iid, current


def set_note(store: Any, iid: str, note: Any, seen: str | None = None) -> str | None:
    """Set the job's note ('', blank or None removes it); returns it as stored.
    With `seen` (the note the writer was shown; '' for none), the note is only
    replaced if it still is that one, else NoteChanged (nothing written)."""
    text = note_text(note)
    args = [] if seen is None else [note_text(seen)]
    result = _check(store._run("note", iid, text, *args), iid)
    if result[0] == "CHANGED":
        raise NoteChanged(iid, result[1] or None)
    return text or None


def tag_sets(store: Any, tags: Iterable[str]) -> list[str]:
    """The keys of the sets of jobs with each tag (for a listing's filter)."""
    return [store.keys.tag(t) for t in tags]


def tag_filter(values: Iterable[Any]) -> list[str]:
    """The tags of a listing's filter (`?tag=a&tag=b`: runs with both), checked."""
    values = list(values)
    if len(values) > MAX_TAGS:
        raise InvalidValue("tag", f"filter by at most {MAX_TAGS} tags, got {len(values)}")
    return list(dict.fromkeys(tag_name(v, "tag") for v in values))
