"""The errors the server answers with, named as AWS's model names them.

Each modelled error of the 2025-05-15 model carries its HTTP status there; the server reads the
status from the model, so :class:`ServiceError` only needs the shape name and the message.
"""

from __future__ import annotations


class ServiceError(Exception):
    """An error response: ``code`` is the model's error shape (``InvalidInputException``)."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def invalid_input(message: str) -> ServiceError:
    return ServiceError("InvalidInputException", message)


def not_found(message: str) -> ServiceError:
    return ServiceError("ResourceNotFoundException", message)


def invalid_state(message: str) -> ServiceError:
    return ServiceError("InvalidStateException", message)


def already_exists(message: str) -> ServiceError:
    return ServiceError("ResourceAlreadyExistsException", message)


def not_implemented(operation: str, why: str) -> ServiceError:
    """HTTP 501, which botocore does not retry: the operation exists on AWS but not here."""
    return ServiceError(
        "NotImplementedException",
        f"{operation} is not implemented by eventlab's local Custom Event Bus: {why}",
        status=501,
    )
