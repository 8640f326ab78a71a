"""Reports what the runtime gave it: context fields, environment, remaining time."""

import os
import tempfile


def handler(event, context):
    cc = context.client_context
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "identity": [
            context.identity.cognito_identity_id,
            context.identity.cognito_identity_pool_id,
        ],
        "client_context": None
        if cc is None
        else {
            "custom": cc.custom,
            "env": cc.env,
            "installation_id": cc.client.installation_id if cc.client else None,
            "app_title": cc.client.app_title if cc.client else None,
        },
        "remaining_ms": context.get_remaining_time_in_millis(),
        "environ": dict(os.environ),
        "cwd": os.getcwd(),
        "tempdir": tempfile.gettempdir(),
    }


def uses_boto3(event, context):
    import boto3

    client = boto3.client("lambda")
    return {"endpoint": client.meta.endpoint_url, "region": client.meta.region_name}
