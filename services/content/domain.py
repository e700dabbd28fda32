"""Content rules without I/O: slugs, safe Markdown, tags, banner URLs, what the public may see,
and the listing cursors."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt

from services.kit import paging
from services.kit.errors import CommonError, DomainError, ErrorCode, Kind, invalid
from services.kit.text import bounded, has_invisible

# What the service reads the time from: an aware datetime (services.kit.timestamps.now in production).
Clock = Callable[[], datetime]


class ContentError(ErrorCode):
    POST_NOT_FOUND = Kind.NOT_FOUND, "post not found"
    SLUG_TAKEN = Kind.ALREADY_EXISTS, "slug already in use"
    BANNER_NOT_FOUND = Kind.NOT_FOUND, "banner not found"


MAX_TITLE = 200
MAX_BODY = 100_000
MAX_TAGS = 20
MAX_TAG = 40
MAX_SLUG = 100
MAX_AUTHOR = 100
MAX_URL = 2000
MAX_PLACEMENT = 40
DEFAULT_AUTHOR = "Shop team"

# A slug derived from a title is cut to this length, so any "-<n>" suffix still fits MAX_SLUG.
_DERIVED_SLUG = 80
_FALLBACK_SLUG = "post"
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_PLACEMENT = re.compile(r"[a-z0-9_]+")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")

# --- slugs ------------------------------------------------------------------------------------


def slugify(title: str) -> str:
    """The slug a title suggests: "Summer Sale — 50% off!" -> "summer-sale-50-off"."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_title.lower()).strip("-")
    slug = slug[:_DERIVED_SLUG].rstrip("-")
    if not slug:
        return _FALLBACK_SLUG
    # "2025" would read as a post id in /api/posts/{ref}.
    return slug if _has_letter(slug) else f"{_FALLBACK_SLUG}-{slug}"[:_DERIVED_SLUG].rstrip("-")


def with_suffix(base: str, n: int) -> str:
    return base if n <= 1 else f"{base}-{n}"


def first_free(base: str, taken: Iterable[str]) -> str:
    """`base`, else `base-2`, `base-3`, ...: the first one not in `taken`."""
    used = set(taken)
    n = 1
    while with_suffix(base, n) in used:
        n += 1
    return with_suffix(base, n)


def explicit_slug(value: str) -> str:
    """A slug an admin chose: taken as given, so it must already be in the canonical form."""
    if not value:
        raise invalid("slug must not be empty")
    if len(value) > MAX_SLUG:
        raise invalid(f"slug must be at most {MAX_SLUG} characters")
    if not _SLUG.fullmatch(value):
        raise invalid("slug may contain only a-z, 0-9 and single hyphens between them")
    if not _has_letter(value):
        raise invalid("slug must contain a letter: one of digits and hyphens only would read as a post id")
    return value


def is_slug(value: str) -> bool:
    return len(value) <= MAX_SLUG and _SLUG.fullmatch(value) is not None and _has_letter(value)


def _has_letter(slug: str) -> bool:
    return any("a" <= c <= "z" for c in slug)


# --- posts ------------------------------------------------------------------------------------


def title(value: str) -> str:
    text = value.strip()
    if not text:
        raise invalid("title must not be empty")
    if len(text) > MAX_TITLE:
        raise invalid(f"title must be at most {MAX_TITLE} characters")
    return text


def body(value: str) -> str:
    if len(value) > MAX_BODY:
        raise invalid(f"body_markdown must be at most {MAX_BODY} characters")
    return value


def author_name(value: str) -> str:
    return bounded(value, "author_name", MAX_AUTHOR) or DEFAULT_AUTHOR


def tags(values: Iterable[str]) -> list[str]:
    """Trimmed, lower-cased, each once, in the order given."""
    result: list[str] = []
    for value in values:
        tag = value.strip().lower()
        if not tag:
            raise invalid("tags must not be empty")
        if len(tag) > MAX_TAG:
            raise invalid(f"each tag must be at most {MAX_TAG} characters")
        if has_invisible(tag):
            raise invalid("tags must not contain control characters")
        if tag not in result:
            result.append(tag)
    if len(result) > MAX_TAGS:
        raise invalid(f"at most {MAX_TAGS} tags")
    return result


def tag_filter(value: str) -> str:
    return value.strip().lower()


# Raw HTML in the Markdown is not passed through (markdown-it escapes it as text); what markdown-it
# produces is then cleaned against this allow-list, so nothing else can reach a page.
_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
    "code": {"class"},
}
_URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener nofollow"


def render_markdown(markdown: str) -> str:
    """Markdown to HTML that is safe to insert into a page."""
    return nh3.clean(
        _markdown.render(markdown),
        tags=_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )


def post_is_public(published: bool, publish_at: datetime | None, now: datetime) -> bool:
    """Published and due: a future publish time means scheduled, not yet visible."""
    return published and publish_at is not None and aware(publish_at) <= now


# --- banners ----------------------------------------------------------------------------------


def _url_text(value: str, field: str) -> str:
    if len(value) > MAX_URL:
        raise invalid(f"{field} must be at most {MAX_URL} characters")
    if _CONTROL.search(value) or "\\" in value:
        raise invalid(f"{field} must not contain spaces, control characters or backslashes")
    return value


def http_url(value: str, field: str) -> str:
    """An absolute http(s) URL with a host."""
    url = _url_text(value.strip(), field)
    if not url:
        raise invalid(f"{field} is required")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise invalid(f"{field} must be an http(s) URL") from exc
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise invalid(f"{field} must be an http(s) URL")
    return url


def link_url(value: str) -> str:
    """Where a banner leads: empty (no link), a path in the shop ("/sale"), or an http(s) URL."""
    url = value.strip()
    if not url:
        return ""
    if url.startswith("/") and not url.startswith("//"):
        return _url_text(url, "link_url")
    return http_url(url, "link_url")


def placement(value: str, *, required: bool = True) -> str:
    text = value.strip()
    if not text and not required:
        return ""
    if not text:
        raise invalid("placement is required")
    if len(text) > MAX_PLACEMENT or not _PLACEMENT.fullmatch(text):
        raise invalid(f"placement must be 1 to {MAX_PLACEMENT} of a-z, 0-9 and _")
    return text


def banner_title(value: str) -> str:
    return bounded(value, "title", MAX_TITLE)


def window(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and aware(end) <= aware(start):
        raise invalid("end_time must be after start_time")


def banner_is_live(active: bool, start: datetime | None, end: datetime | None, now: datetime) -> bool:
    """Switched on, started (or no start) and not yet ended (or no end)."""
    return active and (start is None or aware(start) <= now) and (end is None or now < aware(end))


# --- time and cursors -------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def to_micros(value: datetime) -> int:
    return (aware(value) - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _decode(token: str, kind: str, fields: int) -> list[int] | None:
    values = paging.decode_ints(token, fields, tag=kind)
    if values is None:
        return None
    try:
        from_micros(values[-2])  # a time that exists
    except (ValueError, OverflowError) as exc:
        raise DomainError(CommonError.INVALID_PAGE_TOKEN) from exc
    return values


@dataclass(frozen=True)
class PostCursor:
    """The (sort time, id) key of the last post on a page, newest first."""

    at: datetime
    id: int

    def encode(self) -> str:
        return paging.encode_ints(to_micros(self.at), self.id, tag="p")

    @staticmethod
    def decode(token: str) -> PostCursor | None:
        values = _decode(token, "p", 2)
        return None if values is None else PostCursor(from_micros(values[0]), values[1])


@dataclass(frozen=True)
class BannerCursor:
    """The (priority, created, id) key of the last banner on a page: priority desc, then newest."""

    priority: int
    created_at: datetime
    id: int

    def encode(self) -> str:
        return paging.encode_ints(self.priority, to_micros(self.created_at), self.id, tag="b")

    @staticmethod
    def decode(token: str) -> BannerCursor | None:
        values = _decode(token, "b", 3)
        return None if values is None else BannerCursor(values[0], from_micros(values[1]), values[2])
