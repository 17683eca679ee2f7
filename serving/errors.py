"""Errors the server answers with: a gRPC status code and TensorFlow Serving's wording.

Interface (used by the servers, the client and the model repository):

    ServingError(code: grpc.StatusCode, message: str)    # an Exception; .code, .message
    not_found(message) / invalid_argument(message) / failed_precondition(message)
    unauthenticated(message) / unavailable(message) / internal(message)
    resource_exhausted(message) / deadline_exceeded(message) / unimplemented(message)
                                                         # -> ServingError with that code
    servable_not_found(name, version=None)               # NOT_FOUND
        "Servable not found for request: Latest(name)" / "... Specific(name, 3)"
    unknown_label(label)                                 # INVALID_ARGUMENT
        "Unrecognized servable version label: stable"
    no_versions(name)                                    # NOT_FOUND (GetModelStatus)
        "Could not find any versions of model name"
    version_not_found(name, version)                     # NOT_FOUND (GetModelStatus)
        "Could not find version 3 of model name"
    from_tf_error(exc)                                   # a tf.errors.OpError -> ServingError, same code

Raise these anywhere below the protocol code; the servers turn `.code` / `.message` into the gRPC
status (and the REST layer into its HTTP status + {"error": message}).
"""

from __future__ import annotations

import grpc

__all__ = [
    "ServingError",
    "not_found",
    "invalid_argument",
    "failed_precondition",
    "unauthenticated",
    "unavailable",
    "internal",
    "resource_exhausted",
    "deadline_exceeded",
    "unimplemented",
    "servable_not_found",
    "unknown_label",
    "no_versions",
    "version_not_found",
    "from_tf_error",
    "clip",
    "echo",
    "bounded",
]


class ServingError(Exception):
    """An error with the gRPC status code the server answers with.

    Attributes:
        code: a `grpc.StatusCode`, e.g. `grpc.StatusCode.NOT_FOUND`.
        message: the status details, in TensorFlow Serving's wording where it has one.
    """

    def __init__(self, code: grpc.StatusCode, message: str):
        if not isinstance(code, grpc.StatusCode):
            raise TypeError(f"code must be a grpc.StatusCode, got {code!r}")
        super().__init__(message)
        self.code = code
        self.message = str(message)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"ServingError({self.code.name}, {self.message!r})"

    def __reduce__(self):  # picklable (futures, worker processes)
        return (type(self), (self.code, self.message))


def not_found(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def invalid_argument(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def failed_precondition(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.FAILED_PRECONDITION, message)


def unauthenticated(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.UNAUTHENTICATED, message)


def unavailable(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.UNAVAILABLE, message)


def internal(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INTERNAL, message)


def resource_exhausted(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED, message)


def deadline_exceeded(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, message)


def unimplemented(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.UNIMPLEMENTED, message)


MAX_ECHO = 200  # characters of a client's own text (a model name, a label) repeated in an answer
MAX_MESSAGE = 4000  # characters of any answer's message (gRPC trailers must fit in 8 KiB of metadata)


def clip(text, limit: int = 200) -> str:
    """`text` (str() of anything) cut to about `limit` characters, saying how much was left out (the
    one text-cutting rule of gRPC and REST answers)."""
    text = str(text)
    if len(text) <= limit:
        return text
    head, tail = (limit * 3) // 4, limit // 8
    return f"{text[:head]}... ({len(text) - head - tail} characters omitted) ...{text[len(text) - tail:]}"


def echo(text) -> str:
    """A client's text as an error message repeats it: about MAX_ECHO characters at most."""
    return clip(text, MAX_ECHO)


def bounded(message: str) -> str:
    """An answer's message cut to about MAX_MESSAGE characters."""
    return clip(message, MAX_MESSAGE)


def servable_not_found(name: str, version: int | None = None) -> ServingError:
    """NOT_FOUND as TF Serving words it: `Latest(name)` without a version, `Specific(name, v)` with."""
    name = echo(name)
    request = f"Latest({name})" if version is None else f"Specific({name}, {int(version)})"
    return not_found(f"Servable not found for request: {request}")


def unknown_label(label: str) -> ServingError:
    """INVALID_ARGUMENT for a version label no version carries (TF Serving's ServerCore wording)."""
    return invalid_argument(f"Unrecognized servable version label: {echo(label)}")


def no_versions(name: str) -> ServingError:
    """NOT_FOUND for GetModelStatus of a model with no version in any state."""
    return not_found(f"Could not find any versions of model {echo(name)}")


def version_not_found(name: str, version: int) -> ServingError:
    """NOT_FOUND for GetModelStatus of a version the model never had."""
    return not_found(f"Could not find version {int(version)} of model {echo(name)}")


# tf.errors.OpError.error_code is the canonical code number, the same numbering as grpc.StatusCode.
_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def from_tf_error(exc: BaseException) -> ServingError:
    """The ServingError for an exception raised while running a model.

    A `tf.errors.OpError` keeps its code (e.g. a bad reshape in the graph is INVALID_ARGUMENT, as
    TF Serving answers); anything else is INTERNAL. A ServingError is returned unchanged.
    """
    if isinstance(exc, ServingError):
        return exc
    number = getattr(exc, "error_code", None)
    code = _BY_NUMBER.get(number, grpc.StatusCode.INTERNAL) if isinstance(number, int) else grpc.StatusCode.INTERNAL
    if code == grpc.StatusCode.OK:
        code = grpc.StatusCode.INTERNAL
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return ServingError(code, message)
