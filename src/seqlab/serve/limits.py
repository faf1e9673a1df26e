"""The request limits the routes share, each a small check that raises ApiError naming the field.

Every limit comes from ``ServeSettings`` and is checked in the handler before any model runs, so
an oversized request costs a few microseconds and a 4xx. Statuses: a request larger than the
service takes (too many documents or rows, a text over ``max_chars``) is 413, the status of a
body over ``max_body_bytes``; a request that is well-formed JSON but asks for something the
service does not do (no documents, two documents with one id, a generation longer than
``max_generate_tokens``) is 422, the status FastAPI gives a mistyped field. Each message says the
limit, the setting that sets it and what to do instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from seqlab.serve.errors import ApiError


def check_not_empty(count: int, *, field: str, noun: str) -> None:
    """A request must carry at least one item (``noun``: "document", "row")."""
    if count == 0:
        raise ApiError(
            422, "EmptyRequest", f"{field} is empty; send at least one {noun}", field=field
        )


def check_count(count: int, limit: int, *, field: str, noun: str, setting: str) -> None:
    """At most ``limit`` items (``setting`` names the ServeSettings field that sets it)."""
    if count > limit:
        raise ApiError(
            413,
            "TooManyItems",
            f"{field} has {count:,} {noun}s, over the limit of {limit:,} per request "
            f"({setting}); send them in several requests",
            field=field,
        )


def unpaired_surrogate(text: str) -> str | None:
    """Why ``text`` is no text, or None: JSON can escape half of a surrogate pair ("\\ud800"),
    but that is no character, and tokenizers refuse it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return (
            "the text holds an unpaired surrogate escape (such as \\ud800); write the "
            "character itself"
        )
    return None


def text_too_long(text: str, limit: int) -> str | None:
    """Why ``text`` is over ``limit`` characters (the ``max_chars`` setting), or None. Routes
    that answer per document (sentiment) put this in the document's error."""
    if len(text) <= limit:
        return None
    return (
        f"the text has {len(text):,} characters, over the limit of {limit:,} (max_chars); "
        "send a shorter text or split it"
    )


def check_text_length(text: str, limit: int, *, field: str) -> None:
    """The whole request fails when one of its texts is over ``limit`` characters (413), or
    holds half a surrogate pair (422)."""
    broken = unpaired_surrogate(text)
    if broken is not None:
        raise ApiError(422, "InvalidArgument", f"{field}: {broken}", field=field)
    problem = text_too_long(text, limit)
    if problem is not None:
        raise ApiError(413, "TextTooLong", f"{field}: {problem}", field=field)


def check_unique_ids(ids: Iterable[str], *, field: str) -> None:
    """Each document's id is unique in its request (the answer is matched back by id).
    field: the list's name; the message names the second document with an id seen before."""
    first_at: dict[str, int] = {}
    for index, document_id in enumerate(ids):
        if document_id in first_at:
            raise ApiError(
                422,
                "DuplicateId",
                f"{field}[{index}].id {document_id!r} is the id of {field}[{first_at[document_id]}]"
                " too; give each document its own id",
                field=f"{field}[{index}].id",
            )
        first_at[document_id] = index


def check_at_most(value: int, limit: int, *, field: str, setting: str) -> None:
    """A number the client asks for (new tokens to generate) is at most the service's limit."""
    if value > limit:
        raise ApiError(
            422,
            "InvalidArgument",
            f"{field} ({value:,}) is over the service's limit of {limit:,} ({setting}); ask for "
            "fewer",
            field=field,
        )
