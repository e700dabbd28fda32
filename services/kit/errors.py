"""Domain errors and their one mapping to gRPC status codes.

Each domain declares one Enum of its error codes, subclassing `ErrorCode`:

    class CatalogError(ErrorCode):
        PRODUCT_NOT_FOUND = Kind.NOT_FOUND, "product not found"

and raises `DomainError(CatalogError.PRODUCT_NOT_FOUND)`. The kit's interceptor turns it into
a gRPC status (and the code name into `shop-error-code` trailing metadata); the gateway turns
the status into an HTTP status. Nothing else maps errors.
"""

from __future__ import annotations

import enum

import grpc


class Kind(enum.Enum):
    """What kind of failure, which fixes the gRPC status."""

    INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
    NOT_FOUND = grpc.StatusCode.NOT_FOUND
    ALREADY_EXISTS = grpc.StatusCode.ALREADY_EXISTS
    FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
    ABORTED = grpc.StatusCode.ABORTED
    UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
    PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
    RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
    UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
    DEADLINE_EXCEEDED = grpc.StatusCode.DEADLINE_EXCEEDED


class ErrorCode(enum.Enum):
    """Base of every domain's error Enum: each member is (Kind, default message)."""

    def __init__(self, kind: Kind, message: str) -> None:
        self.kind = kind
        self.message = message


class CommonError(ErrorCode):
    """Errors any service can raise."""

    INVALID_ARGUMENT = Kind.INVALID_ARGUMENT, "invalid argument"
    UNAUTHENTICATED = Kind.UNAUTHENTICATED, "authentication required"
    INVALID_TOKEN = Kind.UNAUTHENTICATED, "invalid or expired token"
    TOKEN_REVOKED = Kind.UNAUTHENTICATED, "token has been revoked"
    PERMISSION_DENIED = Kind.PERMISSION_DENIED, "permission denied"
    INVALID_PAGE_TOKEN = Kind.INVALID_ARGUMENT, "invalid page token"
    DEPENDENCY_UNAVAILABLE = Kind.UNAVAILABLE, "a service this one depends on is unavailable"


class DomainError(Exception):
    def __init__(self, code: ErrorCode, message: str | None = None) -> None:
        self.code = code
        self.message = message or code.message
        super().__init__(f"{code.name}: {self.message}")

    @property
    def status(self) -> grpc.StatusCode:
        status: grpc.StatusCode = self.code.kind.value
        return status


def invalid(message: str) -> DomainError:
    """The common shortcut for request validation failures."""
    return DomainError(CommonError.INVALID_ARGUMENT, message)
