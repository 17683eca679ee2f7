"""Bearer-token authentication for the gRPC and REST servers.

A client sends `authorization: Bearer <token>` (gRPC metadata, or the HTTP `Authorization` header);
a request without a valid token fails with UNAUTHENTICATED (HTTP 401) and the server goes on serving.
The gRPC health service stays open so load balancers and orchestrators can probe without a token.
The Prometheus metrics on the REST port need the token too (they name every model and its traffic;
Prometheus sends one with `authorization: {type: Bearer, credentials: ...}` in its scrape config).
The scheme is matched case-insensitively ("bearer" too), as RFC 6750 allows.

    auth = TokenAuth(["s3cret"])              # or TokenAuth.from_flags(token, token_file)
    auth.check("Bearer s3cret") -> bool       # constant-time comparison
    grpc.server(..., interceptors=[AuthInterceptor(auth)])
    auth.check_http(headers) -> None          # raises ServingError(UNAUTHENTICATED)

Tokens come from `--token` (several allowed, comma separated), `--token_file` (one per line), or
the environment variable `SERVING_TOKEN`, so they need not appear on a command line.
"""

from __future__ import annotations

import hmac
import os
from typing import Iterable

import grpc

from serving.errors import ServingError

MESSAGE = "Missing or invalid bearer token: send the metadata 'authorization: Bearer <token>'"
OPEN_METHODS = ("/grpc.health.v1.Health/",)
ENV_VAR = "SERVING_TOKEN"


class TokenAuth:
    """Accepts any of `tokens`; `enabled` is False when there are none (then every request passes)."""

    def __init__(self, tokens: Iterable[str] = ()):
        self.tokens = [t.strip().encode() for t in tokens if t and t.strip()]

    @classmethod
    def from_flags(cls, token: str | None = None, token_file: str | None = None, env=os.environ) -> "TokenAuth":
        tokens = []
        if token:
            tokens += token.split(",")
        if token_file:
            with open(token_file, encoding="utf-8") as f:
                tokens += [line for line in f.read().splitlines() if line.strip() and not line.startswith("#")]
        if not tokens and env.get(ENV_VAR):
            tokens += env[ENV_VAR].split(",")
        return cls(tokens)

    @property
    def enabled(self) -> bool:
        return bool(self.tokens)

    def check(self, authorization: str | None) -> bool:
        """True when `authorization` ("Bearer <token>") carries an accepted token, or auth is off."""
        if not self.tokens:
            return True
        if not authorization:
            return False
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        given = token.strip().encode()
        ok = False
        for expected in self.tokens:  # no early exit: the time taken does not tell which token matched
            ok |= hmac.compare_digest(given, expected)
        return ok

    def check_http(self, headers) -> None:
        """Raise ServingError(UNAUTHENTICATED) unless the HTTP headers carry an accepted token."""
        if not self.check(headers.get("Authorization")):
            raise ServingError(grpc.StatusCode.UNAUTHENTICATED, MESSAGE.replace("metadata", "header"))


def _abort(handler):
    """A handler of the same kind as `handler` that answers UNAUTHENTICATED."""

    def unary(request, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, MESSAGE)

    def stream(request_or_iterator, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, MESSAGE)
        yield  # pragma: no cover

    kwargs = dict(request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary, **kwargs)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(stream, **kwargs)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary, **kwargs)
    return grpc.stream_stream_rpc_method_handler(stream, **kwargs)


class AuthInterceptor(grpc.ServerInterceptor):
    """Rejects calls without an accepted bearer token (except the health service)."""

    def __init__(self, auth: TokenAuth, open_methods: Iterable[str] = OPEN_METHODS):
        self.auth = auth
        self.open_methods = tuple(open_methods)

    def intercept_service(self, continuation, handler_call_details):
        if not self.auth.enabled or handler_call_details.method.startswith(self.open_methods):
            return continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        if self.auth.check(metadata.get("authorization")):
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        return None if handler is None else _abort(handler)
