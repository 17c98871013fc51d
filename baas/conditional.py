"""Entity-tag comparison for conditional requests, as RFC 9110 §8.8.3 and §13.1 define it.

`If-Match` (and `If-Range`) compare strongly: a weak tag `W/"…"` never matches. `If-None-Match`
compares weakly: `W/"3"` matches `"3"`. Headers are parsed with Django's `parse_etags`; a header
that holds no entity tag at all (e.g. `If-Match: 3` or `yesterday`) is malformed → 400.
"""

from __future__ import annotations

from django.utils.http import parse_etags

from baas.errors import InvalidRequest

ANY = "*"


def entity_tags(header: str, *, name: str) -> list[str]:
    """The tags of an `If-Match`/`If-None-Match` header as sent (quoted, maybe `W/`), or `["*"]`."""
    tags = parse_etags(header)
    if not tags:
        raise InvalidRequest(
            f'{name} takes entity tags such as "3" or W/"3" (quoted), or *.',
            details={name.lower().replace("-", "_"): header},
        )
    return tags


def strong_opaque_tags(header: str, *, name: str = "If-Match") -> list[str] | None:
    """The opaque values (unquoted) of the strong tags of an `If-Match` header; None for `*`.

    Weak tags are dropped: under strong comparison they match nothing."""
    tags = entity_tags(header, name=name)
    if tags == [ANY]:
        return None
    return [tag[1:-1] for tag in tags if not tag.startswith("W/")]


def if_match_passes(header: str, current: str | None) -> bool:
    """`If-Match` against the current representation's opaque tag (None: there is none)."""
    opaque = strong_opaque_tags(header)
    if current is None:
        return False
    return opaque is None or current in opaque


def if_none_match_passes(header: str, current: str | None) -> bool:
    """`If-None-Match` (weak comparison): false when the current representation matches."""
    tags = entity_tags(header, name="If-None-Match")
    if current is None:
        return True
    if tags == [ANY]:
        return False
    return current not in [tag.removeprefix("W/")[1:-1] for tag in tags]
