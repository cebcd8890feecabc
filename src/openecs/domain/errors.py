"""AWS error codes, one class each, with AWS's HTTP status.

    AwsError
    ├── ClientError (400)          the caller's fault
    │   ├── ClientException, InvalidParameterException, ...
    │   ├── *NotFoundException     a named resource does not exist
    │   └── auth errors            MissingAuthenticationToken, InvalidSignature, ...
    └── ServerException (500)      our fault, never for bad input

Use cases raise these; the API layer turns them into the wire format of the
protocol at hand (JSON `__type` or Query XML `<Code>`).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AccessDeniedException",
    "AwsError",
    "ClientException",
    "ClusterContainsContainerInstancesException",
    "ClusterContainsServicesException",
    "ClusterContainsTasksException",
    "ClusterNotFoundException",
    "IncompleteSignatureException",
    "InvalidParameterException",
    "InvalidSignatureException",
    "LimitExceededException",
    "MissingAuthenticationTokenException",
    "ResourceInUseException",
    "ResourceNotFoundException",
    "SerializationException",
    "ServerException",
    "ServiceNotActiveException",
    "ServiceNotFoundException",
    "UnknownOperationException",
    "UnrecognizedClientException",
    "UnsupportedFeatureException",
]


class AwsError(Exception):
    code: ClassVar[str] = "ServerException"
    status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClientError(AwsError):
    code = "ClientException"
    status = 400


class ServerException(AwsError):
    code = "ServerException"
    status = 500


class ClientException(ClientError):
    code = "ClientException"


class InvalidParameterException(ClientError):
    code = "InvalidParameterException"


class SerializationException(ClientError):
    code = "SerializationException"


class UnknownOperationException(ClientError):
    code = "UnknownOperationException"


class UnsupportedFeatureException(ClientError):
    code = "UnsupportedFeatureException"


class LimitExceededException(ClientError):
    code = "LimitExceededException"


class ResourceInUseException(ClientError):
    code = "ResourceInUseException"


class ResourceNotFoundException(ClientError):
    code = "ResourceNotFoundException"


class AccessDeniedException(ClientError):
    code = "AccessDeniedException"


class ClusterNotFoundException(ClientError):
    code = "ClusterNotFoundException"


class ClusterContainsServicesException(ClientError):
    code = "ClusterContainsServicesException"


class ClusterContainsTasksException(ClientError):
    code = "ClusterContainsTasksException"


class ClusterContainsContainerInstancesException(ClientError):
    code = "ClusterContainsContainerInstancesException"


class MissingAuthenticationTokenException(ClientError):
    code = "MissingAuthenticationTokenException"
    status = 403


class UnrecognizedClientException(ClientError):
    code = "UnrecognizedClientException"


class InvalidSignatureException(ClientError):
    code = "InvalidSignatureException"
    status = 403


class IncompleteSignatureException(ClientError):
    code = "IncompleteSignatureException"


class ServiceNotFoundException(ClientError):
    code = "ServiceNotFoundException"


class ServiceNotActiveException(ClientError):
    code = "ServiceNotActiveException"


# --- Elastic Load Balancing v2 -------------------------------------------------------
# `code` is the model's error shape name; the Query protocol sends the shape's wire
# code (TargetGroupNotFoundException → TargetGroupNotFound) and HTTP status.


class ValidationError(ClientError):
    """The Query protocol's generic bad-input error (AWS's `ValidationError`)."""

    code = "ValidationError"


class LoadBalancerNotFoundException(ClientError):
    code = "LoadBalancerNotFoundException"


class TargetGroupNotFoundException(ClientError):
    code = "TargetGroupNotFoundException"


class ListenerNotFoundException(ClientError):
    code = "ListenerNotFoundException"


class RuleNotFoundException(ClientError):
    code = "RuleNotFoundException"


class DuplicateLoadBalancerNameException(ClientError):
    code = "DuplicateLoadBalancerNameException"


class DuplicateTargetGroupNameException(ClientError):
    code = "DuplicateTargetGroupNameException"


class DuplicateListenerException(ClientError):
    code = "DuplicateListenerException"


class DuplicateTagKeysException(ClientError):
    code = "DuplicateTagKeysException"


class PriorityInUseException(ClientError):
    code = "PriorityInUseException"


class InvalidTargetException(ClientError):
    code = "InvalidTargetException"


class IncompatibleProtocolsException(ClientError):
    code = "IncompatibleProtocolsException"


class UnsupportedProtocolException(ClientError):
    code = "UnsupportedProtocolException"


class InvalidConfigurationRequestException(ClientError):
    code = "InvalidConfigurationRequestException"


class InvalidLoadBalancerActionException(ClientError):
    code = "InvalidLoadBalancerActionException"


class OperationNotPermittedException(ClientError):
    code = "OperationNotPermittedException"


class TargetGroupAssociationLimitException(ClientError):
    code = "TargetGroupAssociationLimitException"


class TooManyLoadBalancersException(ClientError):
    code = "TooManyLoadBalancersException"


class TooManyTargetGroupsException(ClientError):
    code = "TooManyTargetGroupsException"


class TooManyListenersException(ClientError):
    code = "TooManyListenersException"


class TooManyRulesException(ClientError):
    code = "TooManyRulesException"


class TooManyTargetsException(ClientError):
    code = "TooManyTargetsException"


class TooManyTagsException(ClientError):
    code = "TooManyTagsException"


class TooManyActionsException(ClientError):
    code = "TooManyActionsException"


# --- the Query protocol's own errors ---------------------------------------------------


class InvalidActionException(ClientError):
    code = "InvalidAction"


class MissingParameterException(ClientError):
    code = "MissingParameter"


class MalformedQueryStringException(ClientError):
    code = "MalformedQueryString"


__all__ += [
    "DuplicateListenerException",
    "DuplicateLoadBalancerNameException",
    "DuplicateTagKeysException",
    "DuplicateTargetGroupNameException",
    "IncompatibleProtocolsException",
    "InvalidActionException",
    "InvalidConfigurationRequestException",
    "InvalidLoadBalancerActionException",
    "InvalidTargetException",
    "ListenerNotFoundException",
    "LoadBalancerNotFoundException",
    "MalformedQueryStringException",
    "MissingParameterException",
    "OperationNotPermittedException",
    "PriorityInUseException",
    "RuleNotFoundException",
    "TargetGroupAssociationLimitException",
    "TargetGroupNotFoundException",
    "TooManyActionsException",
    "TooManyListenersException",
    "TooManyLoadBalancersException",
    "TooManyRulesException",
    "TooManyTagsException",
    "TooManyTargetGroupsException",
    "TooManyTargetsException",
    "UnsupportedProtocolException",
    "ValidationError",
]
