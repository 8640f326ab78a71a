"""Handlers that fail in every way an environment can fail, and one that works."""

import datetime
import logging
import os
import sys
import time


def ok(event, context):
    return {"ok": True, "pid": os.getpid()}


def raises(event, context):
    raise ValueError("boom")


def unserialisable(event, context):
    return {"when": datetime.datetime(2024, 1, 1)}


def busy_loop(event, context):
    while True:
        pass


def sleeps(event, context):
    time.sleep(60)


def exits(event, context):
    os._exit(3)


def segfault(event, context):
    import ctypes

    ctypes.string_at(0)


def memory_hog(event, context):
    hoard = []
    while True:
        hoard.append(bytearray(16 * 1024 * 1024))
        time.sleep(0.005)


def chatty(event, context):
    print(f"stdout {event['n']}")
    print(f"stderr {event['n']}", file=sys.stderr)
    os.write(1, f"fd1 {event['n']}\n".encode())
    time.sleep(event.get("sleep", 0))
    return event["n"]


def logs(event, context):
    logging.getLogger().setLevel(logging.INFO)
    logging.info("hello %s", "log")
    return None


def pid_and_sleep(event, context):
    time.sleep(event.get("sleep", 0))
    return os.getpid()
