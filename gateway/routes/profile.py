"""/api/profile: the signed-in user's own profile and address book; /api/admin/profiles: customer
look-up for admins; account deletion (DELETE /api/auth/me, DELETE /api/admin/users/{user_id}).

Every /api/profile route acts on the caller's own data only: another user's address id answers 404,
exactly like an id that does not exist. Admin routes answer 403 to customers.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, RootModel, StrictBool, StrictStr

from gateway.errors import ApiError
from gateway.models import (
    CURRENCY_PATTERN,
    LOCALE_PATTERN,
    PHONE_PATTERN,
    Message,
    Patch,
    QueryParams,
    RequestBody,
)
from gateway.routing import Ctx, Route
from services.kit.countries import COUNTRIES
from services.kit.text import NON_BLANK_TEXT_PATTERN, PLAIN_TEXT_PATTERN
from shop.auth.v1 import auth_pb2
from shop.common.v1 import common_pb2
from shop.profile.v1 import profile_pb2

# The service validates every field; the patterns and the enum below state its rules in the document.
_POSTAL_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country", "phone")
# A user has at most 20 addresses: one page holds them all.
_ALL_ADDRESSES = 100


# The profile service's own list of assigned codes, stated as an enum; it upper-cases first, so "gb"
# is GB (mixed case is not).
_COUNTRY_CODES = sorted(COUNTRIES) + sorted(code.lower() for code in COUNTRIES)
_ASSIGNED = frozenset(_COUNTRY_CODES)


def _assigned(code: str) -> str:
    if code not in _ASSIGNED:
        raise ValueError("must be an assigned ISO 3166-1 alpha-2 code such as US")
    return code


Country = Annotated[StrictStr, AfterValidator(_assigned), Field(json_schema_extra={"enum": _COUNTRY_CODES})]
Text = Annotated[StrictStr, Field(pattern=PLAIN_TEXT_PATTERN)]
NonBlank = Annotated[StrictStr, Field(pattern=NON_BLANK_TEXT_PATTERN)]
Phone = Annotated[StrictStr, Field(max_length=32, pattern=PHONE_PATTERN)]
# Letters, digits, spaces and dashes, starting with a letter or digit.
PostalCode = Annotated[
    StrictStr, Field(min_length=1, max_length=20, pattern=r"^ *[A-Za-z0-9][A-Za-z0-9 \-]*$")
]


class ProfileOut(BaseModel):
    user_id: int
    email: str
    display_name: str
    phone: str
    marketing_opt_in: bool
    locale: str
    currency: str


class ProfileChanges(Patch):
    display_name: Text = Field(default="", max_length=100, description="Empty clears it")
    phone: Phone = Field(default="", description="International format (+14155550123); empty clears it")
    marketing_opt_in: StrictBool = False
    locale: StrictStr = Field(
        default="", max_length=35, pattern=LOCALE_PATTERN, description="BCP 47 tag such as en-US"
    )
    currency: StrictStr = Field(
        default="", max_length=3, pattern=CURRENCY_PATTERN, description="ISO 4217 code such as USD"
    )


class AddressOut(BaseModel):
    id: int
    label: str
    name: str
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str
    phone: str
    is_default: bool


class AddressList(RootModel[list[AddressOut]]):
    """The default address first, then newest first."""


class NewAddress(RequestBody):
    label: Text = Field(default="", max_length=50, examples=["Home"])
    name: Text = Field(default="", max_length=100, description="The recipient")
    line1: NonBlank = Field(max_length=200)
    line2: Text = Field(default="", max_length=200)
    city: NonBlank = Field(max_length=100)
    region: Text = Field(default="", max_length=100)
    postal_code: PostalCode
    country: Country = Field(description="ISO 3166-1 alpha-2", examples=["US"])
    phone: Phone = ""
    is_default: StrictBool = Field(default=False, description="The first address is the default anyway")


class AddressChanges(Patch):
    label: Text = Field(default="", max_length=50)
    name: Text = Field(default="", max_length=100)
    line1: NonBlank = Field(default="", max_length=200)
    line2: Text = Field(default="", max_length=200)
    city: NonBlank = Field(default="", max_length=100)
    region: Text = Field(default="", max_length=100)
    postal_code: PostalCode = ""
    country: Country = ""
    phone: Phone = ""


class ProfileList(RootModel[list[ProfileOut]]):
    pass


class CustomerProfile(ProfileOut):
    addresses: list[AddressOut]


class ProfileQuery(QueryParams):
    q: str = Field(default="", max_length=254, description="Part of the email or display name")
    page_size: int = Field(default=50, ge=1, le=200)
    page_token: str = Field(default="", max_length=1000)


def _profile(profile: profile_pb2.Profile) -> ProfileOut:
    return ProfileOut(
        user_id=profile.user_id,
        email=profile.email,
        display_name=profile.display_name,
        phone=profile.phone,
        marketing_opt_in=profile.preferences.marketing_opt_in,
        locale=profile.preferences.locale,
        currency=profile.preferences.currency,
    )


def _address(saved: profile_pb2.SavedAddress) -> AddressOut:
    a = saved.address
    return AddressOut(
        id=saved.id,
        label=saved.label,
        name=a.name,
        line1=a.line1,
        line2=a.line2,
        city=a.city,
        region=a.region,
        postal_code=a.postal_code,
        country=a.country,
        phone=a.phone,
        is_default=saved.is_default,
    )


async def _addresses(ctx: Ctx, user_id: int = 0) -> list[profile_pb2.SavedAddress]:
    reply = await ctx.upstreams.profile.ListAddresses(
        profile_pb2.ListAddressesRequest(user_id=user_id, page_size=_ALL_ADDRESSES), metadata=ctx.metadata
    )
    return list(reply.addresses)


async def get_profile(ctx: Ctx) -> ProfileOut:
    reply = await ctx.upstreams.profile.GetProfile(profile_pb2.GetProfileRequest(), metadata=ctx.metadata)
    return _profile(reply.profile)


async def update_profile(ctx: Ctx) -> ProfileOut:
    body = ctx.body(ProfileChanges)
    request = profile_pb2.UpdateProfileRequest()
    for name in body.model_fields_set:
        setattr(request, name, getattr(body, name))
    reply = await ctx.upstreams.profile.UpdateProfile(request, metadata=ctx.metadata)
    return _profile(reply.profile)


async def list_addresses(ctx: Ctx) -> AddressList:
    return AddressList([_address(a) for a in await _addresses(ctx)])


async def create_address(ctx: Ctx) -> AddressOut:
    body = ctx.body(NewAddress)
    reply = await ctx.upstreams.profile.CreateAddress(
        profile_pb2.CreateAddressRequest(
            label=body.label,
            address=common_pb2.Address(**{name: getattr(body, name) for name in _POSTAL_FIELDS}),
            is_default=body.is_default,
        ),
        metadata=ctx.metadata,
    )
    return _address(reply.address)


async def update_address(ctx: Ctx) -> AddressOut:
    address_id = ctx.id("id")
    body = ctx.body(AddressChanges)
    given = body.model_fields_set
    request = profile_pb2.UpdateAddressRequest(id=address_id)
    if "label" in given:
        request.label = body.label
    if given & set(_POSTAL_FIELDS):
        # The service replaces the postal address whole: start from the stored one.
        current = next((a for a in await _addresses(ctx) if a.id == address_id), None)
        if current is None:
            raise ApiError(404, f"address {address_id} not found")
        request.address.CopyFrom(current.address)
        for name in given & set(_POSTAL_FIELDS):
            setattr(request.address, name, getattr(body, name))
    reply = await ctx.upstreams.profile.UpdateAddress(request, metadata=ctx.metadata)
    return _address(reply.address)


async def delete_address(ctx: Ctx) -> Message:
    await ctx.upstreams.profile.DeleteAddress(
        profile_pb2.DeleteAddressRequest(id=ctx.id("id")), metadata=ctx.metadata
    )
    return Message(message="Address deleted")


async def set_default_address(ctx: Ctx) -> AddressOut:
    reply = await ctx.upstreams.profile.SetDefaultAddress(
        profile_pb2.SetDefaultAddressRequest(id=ctx.id("id")), metadata=ctx.metadata
    )
    return _address(reply.address)


async def search_profiles(ctx: Ctx) -> ProfileList:
    query = ctx.query(ProfileQuery)
    reply = await ctx.upstreams.profile.SearchProfiles(
        profile_pb2.SearchProfilesRequest(
            query=query.q, page_size=query.page_size, page_token=query.page_token
        ),
        metadata=ctx.metadata,
    )
    ctx.next_page(reply.next_page_token)
    return ProfileList([_profile(p) for p in reply.profiles])


async def get_customer_profile(ctx: Ctx) -> CustomerProfile:
    user_id = ctx.id("user_id")
    reply = await ctx.upstreams.profile.GetProfile(
        profile_pb2.GetProfileRequest(user_id=user_id), metadata=ctx.metadata
    )
    addresses = await _addresses(ctx, user_id)
    return CustomerProfile(**_profile(reply.profile).model_dump(), addresses=[_address(a) for a in addresses])


async def delete_account(ctx: Ctx) -> Message:
    await ctx.upstreams.auth.DeleteUser(auth_pb2.DeleteUserRequest(), metadata=ctx.metadata)
    return Message(message="Account deleted")


async def delete_user_account(ctx: Ctx) -> Message:
    await ctx.upstreams.auth.DeleteUser(
        auth_pb2.DeleteUserRequest(id=ctx.id("user_id")), metadata=ctx.metadata
    )
    return Message(message="User deleted")


TAGS = ("profile",)
ADMIN_TAGS = ("admin",)
ROUTES = [
    Route(
        "GET",
        "/profile/",
        get_profile,
        "The signed-in user's profile",
        TAGS,
        auth="user",
        response=ProfileOut,
    ),
    Route(
        "PUT",
        "/profile/",
        update_profile,
        "Change any of display name, phone and preferences",
        TAGS,
        auth="user",
        request=ProfileChanges,
        response=ProfileOut,
    ),
    Route(
        "GET",
        "/profile/addresses/",
        list_addresses,
        "The signed-in user's saved addresses, the default first",
        TAGS,
        auth="user",
        response=AddressList,
    ),
    Route(
        "POST",
        "/profile/addresses/",
        create_address,
        "Save an address (at most 20; the first becomes the default)",
        TAGS,
        auth="user",
        request=NewAddress,
        response=AddressOut,
        status=201,
        errors=(409,),
    ),
    Route(
        "PUT",
        "/profile/addresses/{id}",
        update_address,
        "Change any field of a saved address",
        TAGS,
        auth="user",
        request=AddressChanges,
        response=AddressOut,
        errors=(404,),
    ),
    Route(
        "DELETE",
        "/profile/addresses/{id}",
        delete_address,
        "Delete a saved address (the oldest remaining becomes the default)",
        TAGS,
        auth="user",
        response=Message,
        errors=(404,),
    ),
    Route(
        "POST",
        "/profile/addresses/{id}/default",
        set_default_address,
        "Make a saved address the default shipping address",
        TAGS,
        auth="user",
        response=AddressOut,
        errors=(404,),
    ),
    Route(
        "GET",
        "/admin/profiles/",
        search_profiles,
        "Find customers by email or display name",
        ADMIN_TAGS,
        auth="admin",
        response=ProfileList,
        query=ProfileQuery,
        paged=True,
    ),
    Route(
        "GET",
        "/admin/profiles/{user_id}",
        get_customer_profile,
        "A customer's profile and addresses",
        ADMIN_TAGS,
        auth="admin",
        response=CustomerProfile,
        errors=(404,),
    ),
    Route(
        "DELETE",
        "/auth/me/",
        delete_account,
        "Delete the signed-in user's account and their data in every service",
        ("auth",),
        auth="user",
        response=Message,
    ),
    Route(
        "DELETE",
        "/admin/users/{user_id}",
        delete_user_account,
        "Delete a user's account and their data in every service",
        ADMIN_TAGS,
        auth="admin",
        response=Message,
        errors=(404,),
    ),
]
