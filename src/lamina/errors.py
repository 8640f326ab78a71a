"""The one error tree of Lamina.

LaminaError                       anything Lamina raises on purpose
├── AwsError                      an error a client sees; carries code, HTTP status, fault side
│   ├── ResourceNotFound                   404 ResourceNotFoundException
│   ├── ResourceConflict                   409 ResourceConflictException
│   ├── InvalidParameterValue              400 InvalidParameterValueException
│   ├── ValidationError                    400 ValidationException
│   ├── PreconditionFailed                 412 PreconditionFailedException
│   ├── InvalidRequestContent              400 InvalidRequestContentException
│   ├── RequestTooLarge                    413 RequestEntityTooLargeException (AWS's answer)
│   ├── UnsupportedMediaType               415 UnsupportedMediaTypeException
│   ├── TooManyRequests                    429 TooManyRequestsException (+ Reason)
│   ├── ResourceInUse                      400 ResourceInUseException
│   ├── CodeStorageExceeded                400 CodeStorageExceededException
│   ├── ProvisionedConcurrencyConfigNotFound 404
│   ├── SnapStartError                     400 SnapStartException (an after-restore hook failed)
│   ├── SnapStartTimeout                   408 SnapStartTimeoutException (restore over 10 s)
│   ├── SnapStartNotReady                  409 SnapStartNotReadyException (version snapshotting)
│   ├── ServiceError                       500 ServiceException
│   ├── InvalidRuntime                     502 InvalidRuntimeException (no interpreter here)
│   ├── UnknownOperation                   404 UnknownOperationException
│   ├── AuthError                          403: MissingAuthenticationToken, UnrecognizedClient,
│   │                                      InvalidSignature, AccessDenied (api/guard.py renders)
│   ├── SqsError                           400, an SQS JSON-protocol error (`__type`)
│   └── LogsError                          400, a CloudWatch Logs JSON 1.1 error (`__type`)
│       ├── LogsResourceNotFound           ResourceNotFoundException
│       ├── LogsInvalidParameter           InvalidParameterException
│       └── LogsUnknownOperation           UnknownOperationException
└── StoreError                    a backend failed; wrapped at the backend edge
"""

from __future__ import annotations

from typing import Any, ClassVar


class LaminaError(Exception):
    """Base of every error Lamina raises on purpose."""


class AwsError(LaminaError):
    """An error with an AWS error code, an HTTP status and a fault side."""

    code: ClassVar[str] = "ServiceException"
    status: ClassVar[int] = 500
    fault: ClassVar[str] = "User"
    #: Which key the botocore model uses for the message ("message" or "Message").
    message_key: ClassVar[str] = "message"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Type": self.fault, self.message_key: self.message}
        out.update(self.extra)
        return out

    def headers(self) -> dict[str, str]:
        return {}


class ResourceNotFound(AwsError):
    code = "ResourceNotFoundException"
    status = 404
    message_key = "Message"


class ResourceConflict(AwsError):
    code = "ResourceConflictException"
    status = 409


class InvalidParameterValue(AwsError):
    code = "InvalidParameterValueException"
    status = 400


class RecursiveInvocation(AwsError):
    """A function was invoked in a recursive loop past the limit and stopped."""

    code = "RecursiveInvocationException"
    status = 400


class ValidationError(AwsError):
    code = "ValidationException"
    status = 400


class PreconditionFailed(AwsError):
    code = "PreconditionFailedException"
    status = 412


class InvalidRequestContent(AwsError):
    code = "InvalidRequestContentException"
    status = 400


class RequestTooLarge(AwsError):
    """AWS answers with this code, not the model's RequestTooLargeException (recorded)."""

    code = "RequestEntityTooLargeException"
    status = 413
    message_key = "Message"


class UnsupportedMediaType(AwsError):
    code = "UnsupportedMediaTypeException"
    status = 415


class ResourceInUse(AwsError):
    code = "ResourceInUseException"
    status = 400
    message_key = "Message"


class CodeStorageExceeded(AwsError):
    code = "CodeStorageExceededException"
    status = 400


class ProvisionedConcurrencyConfigNotFound(AwsError):
    code = "ProvisionedConcurrencyConfigNotFoundException"
    status = 404


class SnapStartError(AwsError):
    """A SnapStart environment's after-restore hook failed (its log says why)."""

    code = "SnapStartException"
    status = 400
    message_key = "Message"


class SnapStartTimeout(AwsError):
    """A SnapStart environment was not restored (hooks included) within the restore limit."""

    code = "SnapStartTimeoutException"
    status = 408
    message_key = "Message"


class SnapStartNotReady(AwsError):
    """The invoked SnapStart version is still being snapshotted (State Pending)."""

    code = "SnapStartNotReadyException"
    status = 409
    message_key = "Message"


class ServiceError(AwsError):
    code = "ServiceException"
    status = 500
    fault = "Service"
    message_key = "Message"


class InvalidRuntime(AwsError):
    """The function's runtime cannot run here (on this node: no interpreter for it)."""

    code = "InvalidRuntimeException"
    status = 502


class UnknownOperation(AwsError):
    code = "UnknownOperationException"
    status = 404


class AuthError(AwsError):
    """A request refused before any route saw it: unsigned, unknown key, bad signature, origin.

    `code` is set per instance; `api/guard.py` renders it in the protocol of the service asked.
    """

    status = 403
    message_key = "Message"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.auth_code = code

    def body(self) -> dict[str, Any]:
        return {"Type": self.fault, "Message": self.message}


class TooManyRequests(AwsError):
    """429 with the throttle Reason and a Retry-After header."""

    code = "TooManyRequestsException"
    status = 429

    def __init__(self, reason: str, message: str = "Rate Exceeded.", retry_after_s: int = 1):
        super().__init__(message, Reason=reason)
        self.reason = reason
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


#: The legacy query-protocol codes SQS sends in `x-amzn-query-error` (botocore shows them as
#: Error.Code and still raises the modeled class); codes not listed are sent as they are.
SQS_QUERY_CODES = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "QueueDeletedRecently": "AWS.SimpleQueueService.QueueDeletedRecently",
    "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
}


#: The JSON-protocol error names (`__type`) that differ from the code Lamina raises: SQS's
#: service-wide validation errors come from AWS's common ("coral") namespace with another name.
#: Every other code is sent as `com.amazonaws.sqs#<code>`.
SQS_JSON_TYPES = {
    "InvalidParameterValue": "com.amazon.coral.service#InvalidParameterValueException",
    "MissingParameter": "com.amazon.coral.service#MissingRequiredParameterException",
    "InvalidAction": "com.amazon.coral.service#UnknownOperationException",
    "AccessDenied": "com.amazon.coral.service#AccessDeniedException",
}


class SqsError(AwsError):
    """An SQS error; `code` is set per instance (QueueDoesNotExist, ReceiptHandleIsInvalid, …)."""

    status = 400

    def __init__(self, code: str, message: str, status: int = 400, sender: bool = True) -> None:
        super().__init__(message)
        self.sqs_code = code
        self.sqs_status = status
        self.sender = sender


class LogsError(AwsError):
    """A CloudWatch Logs error: JSON 1.1 body `{"__type": code, "message": …}`, HTTP 400."""

    status = 400

    def body(self) -> dict[str, Any]:
        return {"__type": self.code, "message": self.message}


class LogsResourceNotFound(LogsError):
    code = "ResourceNotFoundException"


class LogsInvalidParameter(LogsError):
    code = "InvalidParameterException"


class LogsUnknownOperation(LogsError):
    code = "UnknownOperationException"


class StoreError(LaminaError):
    """A storage backend failed; the driver's error is the cause."""
