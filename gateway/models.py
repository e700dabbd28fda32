"""Building blocks of the request and response bodies; each resource's own shapes live with its routes.

Request bodies are strict: a JSON string is not a number, `true` is not a number, 1.5 is not an
integer (but 3.0 is 3, as in JSON Schema); missing required fields fail; unknown fields are ignored.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from gateway.money import MAX_PRICE, minor_units

INT64_MAX = 2**63 - 1


def _two_decimals(value: float) -> float:
    minor_units(value)
    return value


Price = Annotated[
    float,
    Field(ge=0, le=MAX_PRICE, allow_inf_nan=False, description="In the shop's currency, at most 2 decimals"),
    AfterValidator(_two_decimals),
]
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
# Units of stock: inventory keeps at most a billion of one product.
STOCK_MAX = 1_000_000_000
Stock = Annotated[int, Field(ge=0, le=STOCK_MAX)]
PositiveCount = Annotated[int, Field(ge=1, le=INT64_MAX)]
Id = Annotated[int, Field(ge=1, le=INT64_MAX)]
# ISO codes as the services check them (they upper-case first): "US", "usd".
COUNTRY_PATTERN = r"^[A-Za-z]{2}$"
CURRENCY_PATTERN = r"^([A-Za-z]{3})?$"
# The profile service's phone rule: E.164 ("+14155550123") once spaces, brackets, dots, dashes and
# slashes are dropped; empty (or spaces) clears it.
_SEP = r"[ ().\-/]*"
PHONE_PATTERN = rf"^( *|{_SEP}\+{_SEP}[1-9]({_SEP}[0-9]){{6,14}}{_SEP})$"
# A BCP 47 tag in its common shape ("en", "en-US", "zh-Hant-TW"); empty uses the shop default.
LOCALE_PATTERN = r"^([A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*)?$"
# An absolute http(s) URL with a host, without spaces, control characters or backslashes: what the
# content service takes for banners (a host of letters, digits, dots and dashes; IDNs as punycode).
_URL_REST = r"([/?#][^\x00-\x20\x7f\\]*)?"
_HTTP_URL = rf"[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9.\-]+(:[0-9]{{1,5}})?{_URL_REST}"
HTTP_URL_PATTERN = rf"^{_HTTP_URL}$"
# Where a banner leads: nothing, a path in the shop ("/sale", not "//host") or an http(s) URL.
LINK_URL_PATTERN = rf"^(|/([^/\x00-\x20\x7f\\][^\x00-\x20\x7f\\]*)?|{_HTTP_URL})$"
# A product image: http(s) or an uploaded file's path, as the catalog service checks.
IMAGE_URL_PATTERN = r"^(https?://|/api/uploads/).*$"
# A slug: lowercase letters, digits and single hyphens, with a letter somewhere (all digits would
# read as an id).
SLUG_WITH_LETTER = r"^([a-z0-9]+-)*[0-9]*[a-z][a-z0-9]*(-[a-z0-9]+)*$"
# What an API response carries for money: the number in major units (100.0).
Amount = Annotated[float, Field(description="In the shop's currency")]


class RequestBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def _without_defaults(schema: dict[str, Any]) -> None:
    # A patch field's default only stands for "unchanged"; it is not a value to document.
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
    # `{}` changes nothing and is refused: the document says so.
    schema["minProperties"] = 1


class Patch(RequestBody):
    """A partial update: omitted fields stay as they are, at least one is needed, null is refused."""

    model_config = ConfigDict(json_schema_extra=_without_defaults)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in cls.model_fields:
                if name in data and data[name] is None:
                    raise ValueError(f"{name} must not be null")
        return data

    @model_validator(mode="after")
    def _something(self) -> Patch:
        if not self.model_fields_set:
            raise ValueError(f"at least one of {', '.join(type(self).model_fields)} is required")
        return self


class QueryParams(BaseModel):
    """Query strings are text, so query params are converted (not strict); unknown ones are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Message(BaseModel):
    message: str


class ErrorBody(BaseModel):
    error: str
