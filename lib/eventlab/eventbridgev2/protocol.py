"""Smithy RPC v2 CBOR, the server side, as botocore's ``RpcV2CBORSerializer``/``Parser`` expect it.

A request is ``POST /service/AWSEventsV2/operation/<Operation>`` with a CBOR body and the header
``smithy-protocol: rpc-v2-cbor``. A response is CBOR with ``Content-Type: application/cbor`` and
the same header; an error carries ``__type`` (the error shape's name) and ``Message``, with the
HTTP status the model gives that error (``InvalidInputException`` 400,
``ResourceNotFoundException`` 404, ``ConcurrentModificationException`` 409, ...).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

from botocore.model import ServiceModel

from eventlab.eventbridgev2 import cbor
from eventlab.eventbridgev2.errors import ServiceError
from eventlab.eventbridgev2.model import (
    check_request,
    error_shapes,
    prune_output,
    validation_message,
)

log = logging.getLogger(__name__)

_PATH = re.compile(r"^/service/([^/]+)/operation/([^/?#]+)$")
# The credential scope of a SigV4 Authorization header: Credential=KEY/DATE/REGION/SERVICE/aws4_request.
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]*)/")
PROTOCOL_HEADER = "smithy-protocol"
PROTOCOL = "rpc-v2-cbor"

Response = tuple[int, dict[str, str], bytes]


class RpcV2CborHandler:
    """Turns one HTTP request into one call of ``service.<Operation>(params)`` and back."""

    def __init__(self, service: Any, model: ServiceModel, region: str | None = None) -> None:
        self.service = service
        self.model = model
        self.region = region  # the one region it serves, as an AWS endpoint does (None: any)
        self.target_prefix = model.metadata["targetPrefix"]
        self.error_status = error_shapes(model)
        self.operations = set(model.operation_names)

    def _reply(self, status: int, body: Mapping[str, Any]) -> Response:
        payload = cbor.encode(dict(body))
        headers = {
            "Content-Type": "application/cbor",
            PROTOCOL_HEADER: PROTOCOL,
            "x-amzn-requestid": str(uuid.uuid4()),
            "Content-Length": str(len(payload)),
        }
        return status, headers, payload

    def error(self, code: str, message: str, status: int | None = None) -> Response:
        return self._reply(status or self.error_status.get(code, 400), {"__type": code, "Message": message})

    def wrong_region(self, authorization: str) -> Response | None:
        """AWS's refusal of a request signed for another region than the endpoint's (HTTP 403,
        InvalidSignatureException, as AWS's JSON and CBOR services answer), or None. Signatures
        are not verified (there is no IAM here): only the region of the credential scope."""
        scope = _SCOPE.search(authorization)
        if self.region is None or scope is None or scope.group(1) == self.region:
            return None
        return self.error(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region. (eventlab: this eventbridgev2 server serves "
            f"{self.region} and the request was signed for {scope.group(1)!r}: create the client with "
            f"region_name={self.region!r}, or start the emulator with EVENTLAB_AWS_REGION set to the "
            "region you want.)", 403)

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Response:
        match = _PATH.match(path)
        if method != "POST" or match is None or match.group(1) != self.target_prefix:
            return self.error("UnknownOperationException",
                              f"{method} {path} is not an operation of {self.target_prefix}; "
                              f"send POST /service/{self.target_prefix}/operation/<Operation>", 404)
        operation_name = match.group(2)
        if operation_name not in self.operations:
            return self.error("UnknownOperationException", f"{operation_name} is not an operation of the eventbridgev2 API", 404)
        lowered = {key.lower(): value for key, value in headers.items()}
        refused = self.wrong_region(lowered.get("authorization", ""))
        if refused is not None:
            return refused
        if lowered.get(PROTOCOL_HEADER) != PROTOCOL:
            return self.error("SerializationException",
                              f"the request must carry the header {PROTOCOL_HEADER}: {PROTOCOL}", 400)
        try:
            decoded = cbor.decode(body) if body else {}
        except (cbor.CBORDecodeError, ValueError) as exc:
            return self.error("SerializationException", f"the request body is not valid CBOR: {exc}", 400)
        operation = self.model.operation_model(operation_name)
        params, problems = check_request(operation, decoded)
        if problems:
            return self.error("InvalidInputException", validation_message(problems))
        try:
            result = getattr(self.service, operation_name)(params)
        except ServiceError as exc:
            log.info("%s -> %s: %s", operation_name, exc.code, exc.message)
            return self.error(exc.code, exc.message, exc.status)
        except Exception:
            log.exception("%s failed", operation_name)
            return self.error("InternalException", f"{operation_name} failed inside eventlab's server; see its log", 500)
        return self._reply(200, prune_output(operation.output_shape, result) or {})
