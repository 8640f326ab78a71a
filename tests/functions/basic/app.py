"""A plain handler that counts its calls: a warm environment keeps the count."""

import os

calls = 0
print("init output from basic")


def handler(event, context):
    global calls
    calls += 1
    print(f"handling {context.aws_request_id}")
    return {"calls": calls, "event": event, "pid": os.getpid()}


def echo(event, context):
    return event
