"""Invocations through the pool against real environment processes: the happy paths."""

from __future__ import annotations

import base64
import json
import os
import re

from envtools import borrow, call, invoke, make_spec

from lamina.engine.pool import Pool


def test_warm_environment_keeps_module_state_and_only_cold_start_reports_init(run_pool):
    spec = make_spec("basic")

    async def scenario(pool: Pool):
        return [await call(pool, spec, b'{"n": 1}') for _ in range(3)]

    first, second, third = run_pool(scenario)
    assert [json.loads(r.payload)["calls"] for r in (first, second, third)] == [1, 2, 3]
    assert first.environment_id == second.environment_id == third.environment_id
    assert first.cold and first.init_duration_ms is not None and first.init_duration_ms > 0
    assert not second.cold and second.init_duration_ms is None
    assert "Init Duration: " in first.log_text and "Init Duration" not in second.log_text
    assert first.function_error is None and first.error_type is None
    assert json.loads(first.payload)["event"] == {"n": 1}
    assert first.max_memory_used_mb > 0 and first.billed_duration_ms >= 1


def test_context_carries_every_aws_field_and_the_remaining_time(run_pool):
    spec = make_spec("context")
    client_context = {"custom": {"k": "v"}, "env": {"platform": "x"}, "client": {"app_title": "t"}}
    encoded = base64.b64encode(json.dumps(client_context).encode()).decode()

    async def scenario(pool: Pool):
        async with borrow(pool, spec) as env:
            result = await invoke(env, client_context=encoded)
            return env.log_stream_name, result

    stream, result = run_pool(scenario)
    ctx = json.loads(result.payload)
    assert ctx["function_name"] == "context"
    assert ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"] == spec.function_arn
    assert ctx["memory_limit_in_mb"] == "128"
    assert ctx["log_group_name"] == "/aws/lambda/context"
    assert ctx["log_stream_name"] == stream
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", stream)
    assert ctx["identity"] == [None, None]
    assert ctx["client_context"] == {
        "custom": {"k": "v"},
        "env": {"platform": "x"},
        "installation_id": None,
        "app_title": "t",
    }
    assert 2000 < ctx["remaining_ms"] <= 3000
    assert re.fullmatch(r"[0-9a-f-]{36}", ctx["aws_request_id"])


def test_environment_variables_are_aws_ones_plus_the_function_ones(run_pool):
    spec = make_spec(
        "context", variables={"GREETING": "hi", "AWS_REGION": "xx-evil-1"}, region="eu-west-1"
    )

    async def scenario(pool: Pool):
        return json.loads((await call(pool, spec)).payload)

    ctx = run_pool(scenario)
    env = ctx["environ"]
    assert env["GREETING"] == "hi"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["_HANDLER"] == "app.handler"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "context"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/context"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == ctx["log_stream_name"]
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["LAMBDA_TASK_ROOT"] == str(spec.code_dir) == ctx["cwd"]
    assert os.path.isdir(env["LAMBDA_RUNTIME_DIR"])
    assert env["TZ"] == ":UTC" and env["LANG"] == "en_US.UTF-8" and env["PATH"]
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9001"
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"] and env["AWS_SESSION_TOKEN"]
    assert ctx["tempdir"] == env["TMPDIR"]
    assert not any(name.startswith("_LAMINA") for name in env)
    assert not os.path.exists(env["TMPDIR"]), "the temporary directory outlived its environment"


def test_boto3_inside_a_handler_calls_this_node(run_pool):
    spec = make_spec("context", handler="app.uses_boto3", endpoint_url="http://127.0.0.1:9555")

    async def scenario(pool: Pool):
        return await call(pool, spec)

    result = run_pool(scenario)
    assert result.error_type is None, result.payload
    assert json.loads(result.payload) == {
        "endpoint": "http://127.0.0.1:9555",
        "region": "us-east-1",
    }


def test_async_handler_runs_on_one_loop_kept_across_invocations(run_pool):
    spec = make_spec("asyncfn")

    async def scenario(pool: Pool):
        return [json.loads((await call(pool, spec)).payload) for _ in range(3)]

    results = run_pool(scenario)
    assert results[-1] == {"loops_seen": 1, "calls": 3}


def test_gather_and_thread_pools_work_inside_handlers(run_pool):
    async def scenario(pool: Pool):
        gathered = await call(pool, make_spec("asyncfn", handler="app.gather"))
        threaded = await call(pool, make_spec("asyncfn", handler="app.threads"))
        return json.loads(gathered.payload), json.loads(threaded.payload)

    gathered, threaded = run_pool(scenario)
    assert gathered == {"threaded": [0, 1, 8, 27], "awaited": [0, 1, 4, 9]}
    assert threaded == [1, 2, 3, 4, 5, 6, 7, 8]


def test_output_is_attributed_to_the_request_that_wrote_it(run_pool):
    spec = make_spec("faults", handler="app.chatty")

    async def scenario(pool: Pool):
        return [await call(pool, spec, json.dumps({"n": n}).encode()) for n in range(3)]

    results = run_pool(scenario)
    for n, result in enumerate(results):
        lines = result.log_text.splitlines()
        body = lines[lines.index(next(x for x in lines if x.startswith("START"))) + 1 : -2]
        assert sorted(body) == sorted([f"stdout {n}", f"stderr {n}", f"fd1 {n}"]), result.log_text


def test_python_logging_looks_like_aws(run_pool):
    spec = make_spec("faults", handler="app.logs")

    async def scenario(pool: Pool):
        async with borrow(pool, spec) as env:
            result = await invoke(env)
            return result, env

    result, _ = run_pool(scenario)
    pattern = r"\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t[0-9a-f-]{36}\thello log"
    assert re.search(pattern, result.log_text), result.log_text


def test_init_output_precedes_start_on_the_cold_invocation_only(run_pool):
    spec = make_spec("basic")

    async def scenario(pool: Pool):
        return await call(pool, spec), await call(pool, spec)

    cold, warm = run_pool(scenario)
    assert cold.log_text.startswith("init output from basic\nSTART RequestId: ")
    assert warm.log_text.startswith("START RequestId: ")
