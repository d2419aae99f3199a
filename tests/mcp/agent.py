"""An agent's side of msb-mcp, played by the official MCP Python SDK (`pip install mcp`).

Each scenario connects the way an agent host does (stdio, or streamable HTTP), drives the
tools and checks what comes back and what is left on the host. It exits 0 and prints
`ok SCENARIO` when every check held; any failed check raises, prints why and exits 1.
The Rust tests in tests/tests/mcp start msbd, then run one scenario per test.

    python agent.py SCENARIO --mcp PATH --socket SOCKET [--url URL] [--token TOKEN] [-- ARGS]
"""

import argparse
import base64
import contextlib
import os
import sys
import time
import traceback

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

SESSION_TOOLS = {
    "execute_code",
    "execute_command",
    "write_file",
    "read_file",
    "get_sessions",
    "stop_session",
    "get_session_logs",
}
OPERATOR_TOOLS = {"status", "health", "pause_tasks", "resume_tasks", "restart_tasks"}
DEADLINE = 30.0


class Check(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Check(what)


@contextlib.asynccontextmanager
async def connect(opts, *extra, name="agent-test"):
    """A ClientSession with msb-mcp, initialized."""
    info = {"name": name, "version": "1.0"}
    if opts.url:
        import httpx2

        headers = {"Authorization": f"Bearer {opts.token}"} if opts.token else {}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            async with streamable_http_client(opts.url, http_client=http) as (read, write, *_):
                async with ClientSession(read, write, client_info=client_info(info)) as session:
                    await session.initialize()
                    yield session
        return
    params = StdioServerParameters(
        command=opts.mcp,
        args=["--socket", opts.socket, *opts.extra, *extra],
        env={"RUST_BACKTRACE": "1"},
    )
    async with stdio_client(params) as (read, write, *_):
        async with ClientSession(read, write, client_info=client_info(info)) as session:
            await session.initialize()
            yield session


def client_info(info):
    from mcp.types import Implementation

    return Implementation(**info)


async def call(session, tool, progress=None, **arguments):
    """A tool's structured result; a tool error raises with its code."""
    result = await session.call_tool(tool, arguments, progress_callback=progress)
    if result.is_error:
        raise ToolError(result.structured_content or {}, result.content)
    check(result.structured_content is not None, f"{tool} returned no structured content")
    check(result.content and result.content[0].text, f"{tool} returned no text rendering")
    return result.structured_content


async def failing(session, tool, **arguments):
    """The error of a call that must fail: {"code", "message"}."""
    result = await session.call_tool(tool, arguments)
    check(result.is_error, f"{tool} {arguments} was expected to fail: {result}")
    error = (result.structured_content or {}).get("error")
    check(error and error.get("code") and error.get("message"), f"no error document: {result}")
    check(error["code"] in result.content[0].text, f"the text names no code: {result.content}")
    return error


class ToolError(Exception):
    def __init__(self, structured, content):
        super().__init__(f"tool error {structured} {content}")
        self.error = structured.get("error", {})


def processes_with(marker):
    """Pids of host processes whose command line holds `marker`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


async def wait_until(what, condition):
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise Check(f"gave up waiting for {what}")
        await anyio.sleep(0.05)


# --- scenarios -------------------------------------------------------------------------


async def tools(opts):
    async with connect(opts) as session:
        listed = {t.name: t for t in (await session.list_tools()).tools}
        expected = SESSION_TOOLS | (OPERATOR_TOOLS if "--operator-tools" in opts.extra else set())
        check(set(listed) == expected, f"tools {sorted(listed)} != {sorted(expected)}")
        code = listed["execute_code"]
        props = code.input_schema["properties"]
        for field in ("code", "language", "template", "session_id", "flavor", "timeout_secs", "create_if_missing"):
            check(field in props, f"execute_code takes no {field}: {sorted(props)}")
        check(code.input_schema.get("required") == ["code"], f"required: {code.input_schema.get('required')}")
        out = code.output_schema["properties"]
        for field in ("session_id", "stdout", "stderr", "exit_code", "success", "timed_out", "truncated", "duration_ms", "session_created"):
            check(field in out, f"execute_code returns no {field}: {sorted(out)}")
        command = listed["execute_command"].input_schema
        check({"command", "args"} <= set(command["properties"]), f"execute_command: {command}")
        for name, tool in listed.items():
            check(tool.description, f"{name} has no description")
            check(tool.output_schema, f"{name} has no output schema")


async def reuse(opts):
    async with connect(opts) as session:
        first = await call(
            session,
            "execute_code",
            language="python",
            code="open('seen.txt', 'w').write('written by the first call')\nprint(sum(range(10)))",
        )
        check(first["stdout"] == "45\n", f"stdout {first['stdout']!r}")
        check(first["success"] and first["exit_code"] == 0, f"{first}")
        check(first["session_created"], "the first call created no session")
        check(not first["timed_out"] and not first["truncated"], f"{first}")
        sid = first["session_id"]
        second = await call(session, "execute_command", command="cat seen.txt", session_id=sid)
        check(second["stdout"] == "written by the first call", f"{second}")
        check(second["session_id"] == sid and not second["session_created"], f"{second}")
        argv = await call(session, "execute_command", command="printf", args=["%s|", "a b", "$HOME"], session_id=sid)
        check(argv["stdout"] == "a b|$HOME|", f"args are not passed as they are: {argv}")
        failed = await call(session, "execute_command", command="echo oops >&2; exit 3", session_id=sid)
        check((failed["exit_code"], failed["success"], failed["stderr"]) == (3, False, "oops\n"), f"{failed}")
        listed = await call(session, "get_sessions")
        ids = [s["id"] for s in listed["sessions"]]
        check(ids == [sid], f"get_sessions {ids}, expected [{sid}]")
        labels = listed["sessions"][0]["labels"]
        check(labels.get("mcp.client") == "agent-test", f"labels {labels}")
        print(sid)


async def progress(opts):
    seen = []

    async def on_progress(progress, total, message):
        seen.append((progress, message))

    async with connect(opts) as session:
        result = await call(
            session,
            "execute_command",
            progress=on_progress,
            command="for i in 1 2 3; do echo line$i; sleep 0.2; done",
        )
        check(result["stdout"] == "line1\nline2\nline3\n", f"{result}")
        text = "".join(m or "" for _, m in seen)
        check(text == result["stdout"], f"progress carried {text!r}")
        figures = [p for p, _ in seen]
        check(figures == sorted(set(figures)), f"progress must increase: {figures}")


async def timeout(opts):
    marker = "987.654"
    async with connect(opts) as session:
        started = time.monotonic()
        result = await call(session, "execute_command", command=f"sleep {marker}; echo never", timeout_secs=1)
        check(result["timed_out"] and result["exit_code"] == 124 and not result["success"], f"{result}")
        check(result["stdout"] == "", f"{result}")
        check(time.monotonic() - started < DEADLINE, "the timeout did not end the call")
        await wait_until("the timed-out command to be gone", lambda: not processes_with(marker))
        again = await call(session, "execute_command", command="echo alive", session_id=result["session_id"])
        check(again["stdout"] == "alive\n", f"the session did not survive its command's timeout: {again}")


async def cancel(opts):
    marker = "876.543"
    async with connect(opts) as session:
        sid = (await call(session, "execute_command", command="true"))["session_id"]
        async with anyio.create_task_group() as group:
            outcome = {}

            async def long_call():
                outcome["result"] = await session.call_tool(
                    "execute_command", {"command": f"sleep {marker}", "session_id": sid}
                )

            group.start_soon(long_call)
            await wait_until("the command to start", lambda: processes_with(marker))
            group.cancel_scope.cancel()
        check("result" not in outcome, f"the cancelled call still answered: {outcome}")
        await wait_until("the cancelled command to be gone", lambda: not processes_with(marker))
        again = await call(session, "execute_command", command="echo alive", session_id=sid)
        check(again["stdout"] == "alive\n", f"{again}")


async def files(opts):
    async with connect(opts) as session:
        sid = (await call(session, "execute_command", command="mkdir -p sub"))["session_id"]
        written = await call(session, "write_file", session_id=sid, path="sub/hello.txt", content="hé llo\n")
        check(written["bytes"] == len("hé llo\n".encode()), f"{written}")
        seen = await call(session, "execute_command", command="cat sub/hello.txt", session_id=sid)
        check(seen["stdout"] == "hé llo\n", f"{seen}")
        back = await call(session, "read_file", session_id=sid, path="sub/hello.txt")
        check((back["encoding"], back["content"], back["size"]) == ("utf-8", "hé llo\n", 8), f"{back}")
        blob = bytes(range(256))
        await call(session, "write_file", session_id=sid, path="blob.bin", base64=base64.b64encode(blob).decode())
        back = await call(session, "read_file", session_id=sid, path="blob.bin")
        check(back["encoding"] == "base64" and base64.b64decode(back["content"]) == blob, f"{back}")
        error = await failing(session, "read_file", session_id=sid, path="sub")
        check(error["code"] == "invalid_argument" and "directory" in error["message"], f"{error}")
        error = await failing(session, "write_file", session_id=sid, path="x.txt")
        check(error["code"] == "invalid_argument", f"{error}")
        big = await call(session, "execute_command", command="head -c 5000 /dev/zero > big.bin", session_id=sid)
        check(big["success"], f"{big}")
        error = await failing(session, "read_file", session_id=sid, path="big.bin")
        check(error["code"] == "too_large" and "--max-read" in error["message"], f"{error}")
        error = await failing(session, "read_file", session_id=sid, path="missing.txt")
        check("missing.txt" in error["message"], f"{error}")


async def stop(opts):
    async with connect(opts) as session:
        sid = (await call(session, "execute_command", command="echo hi"))["session_id"]
        logs = await call(session, "get_session_logs", session_id=sid)
        check(logs["session_id"] == sid and not logs["truncated"], f"{logs}")
        stopped = await call(session, "stop_session", session_id=sid)
        check(stopped["id"] == sid and stopped["fate"] in ("stopped", "killed"), f"{stopped}")
        error = await failing(session, "execute_command", command="echo again", session_id=sid)
        check(error["code"] == "unknown_session", f"{error}")
        listed = await call(session, "get_sessions")
        check(sid not in [s["id"] for s in listed["sessions"] if s["status"] != "ended"], f"{listed}")


async def unknown(opts):
    async with connect(opts) as session:
        for tool, args in [
            ("execute_command", {"command": "true"}),
            ("execute_code", {"code": "print(1)", "language": "python"}),
            ("read_file", {"path": "x"}),
            ("write_file", {"path": "x", "content": "y"}),
            ("stop_session", {}),
            ("get_session_logs", {}),
            ("get_sessions", {}),
        ]:
            error = await failing(session, tool, session_id="no-such-session", **args)
            check(error["code"] == "unknown_session", f"{tool}: {error}")
            check("no-such-session" in error["message"], f"{tool}: {error}")
        made = await call(
            session, "execute_command", command="echo made", session_id="made-by-agent", create_if_missing=True
        )
        check(made["session_created"] and made["session_id"] == "made-by-agent", f"{made}")
        error = await failing(session, "execute_code", code="print(1)")
        check(error["code"] == "invalid_argument" and "language" in error["message"], f"{error}")
        error = await failing(session, "execute_code", code="1", language="cobol")
        check(error["code"] == "invalid_argument" and "cobol" in error["message"], f"{error}")
        error = await failing(session, "execute_command", command="true", timeout_secs=0)
        check(error["code"] == "invalid_argument" and "timeout_secs" in error["message"], f"{error}")


async def private(opts):
    """Two agents: neither sees nor touches the other's session."""
    async with connect(opts, name="agent-a") as a, connect(opts, name="agent-b") as b:
        sid = (await call(a, "execute_command", command="echo secret > mine.txt"))["session_id"]
        listed = await call(b, "get_sessions")
        check(sid not in [s["id"] for s in listed["sessions"]], f"b sees a's session: {listed}")
        for tool, args in [
            ("execute_command", {"command": "cat mine.txt"}),
            ("read_file", {"path": "mine.txt"}),
            ("stop_session", {}),
            ("get_sessions", {}),
        ]:
            error = await failing(b, tool, session_id=sid, **args)
            check(error["code"] == "unknown_session", f"{tool}: {error}")
        error = await failing(b, "execute_command", command="true", session_id=sid, create_if_missing=True)
        check(error["code"] == "unknown_session", f"create_if_missing over another's session: {error}")
        mine = await call(a, "read_file", session_id=sid, path="mine.txt")
        check(mine["content"] == "secret\n", f"{mine}")


async def shared(opts):
    """With --share-sessions, a second agent works in the first one's session."""
    async with connect(opts, name="agent-a") as a, connect(opts, name="agent-b") as b:
        sid = (await call(a, "execute_command", command="echo common > ours.txt"))["session_id"]
        listed = await call(b, "get_sessions")
        check(sid in [s["id"] for s in listed["sessions"]], f"{listed}")
        seen = await call(b, "execute_command", command="cat ours.txt", session_id=sid)
        check(seen["stdout"] == "common\n", f"{seen}")


async def unreachable(opts):
    async with connect(opts) as session:
        error = await failing(session, "execute_command", command="true")
        check(error["code"] == "unreachable", f"{error}")
        check(opts.socket in error["message"], f"the error names no socket: {error}")


async def operator(opts):
    async with connect(opts) as session:
        status = await call(session, "status")
        names = {t["name"] for t in status["tasks"]}
        check({"session-cleanup", "orphan-cleanup"} <= names, f"{names}")
        health = await call(session, "health")
        check(health["overall"] in ("healthy", "degraded", "unhealthy"), f"{health}")
        paused = await call(session, "pause_tasks", tasks=["orphan-cleanup"], reason="agent maintenance")
        check([a["task"] for a in paused["tasks"]] == ["orphan-cleanup"], f"{paused}")
        check(paused["tasks"][0]["state"] == "paused", f"{paused}")
        status = await call(session, "status", task="orphan-cleanup")
        check(status["tasks"][0]["state"] == "paused", f"{status}")
        resumed = await call(session, "resume_tasks")
        check({a["task"] for a in resumed["tasks"]} >= {"orphan-cleanup"}, f"{resumed}")
        restarted = await call(session, "restart_tasks", force=True)
        check(restarted["tasks"], f"{restarted}")
        error = await failing(session, "pause_tasks", tasks=["no-such-task"])
        check(error["code"] == "unknown_task", f"{error}")


async def refused(opts):
    """A client without the right token is turned away before anything runs."""
    import httpx2

    headers = {"Authorization": f"Bearer {opts.token}"} if opts.token else {}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    async with httpx2.AsyncClient(headers=headers, timeout=DEADLINE) as http:
        answer = await http.post(opts.url, json=body, headers={"Accept": "application/json, text/event-stream"})
    check(answer.status_code == 401, f"HTTP {answer.status_code}: {answer.text}")
    check(answer.headers.get("www-authenticate") == "Bearer", f"{answer.headers}")
    try:
        with anyio.fail_after(DEADLINE):
            async with connect(opts) as session:
                await session.list_tools()
    except Exception as e:
        text = describe(e)
        check("MCPError" in text or "401" in text, f"refused for another reason: {text}")
        return
    raise Check("the SDK's client without the right token was served")


def describe(error):
    """Every message in an exception, its group and its causes."""
    parts = [f"{type(error).__name__}: {error}"]
    for inner in getattr(error, "exceptions", ()):
        parts.append(describe(inner))
    if error.__cause__ is not None:
        parts.append(describe(error.__cause__))
    return " / ".join(parts)


SCENARIOS = {
    f.__name__: f
    for f in (tools, reuse, progress, timeout, cancel, files, stop, unknown, private, shared, unreachable, operator, refused)
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--mcp", help="the msb-mcp binary (stdio)")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--url", help="serve over streamable HTTP at this URL instead")
    parser.add_argument("--token")
    argv = sys.argv[1:]
    # More msb-mcp arguments follow `--`.
    split = argv.index("--") if "--" in argv else len(argv)
    opts = parser.parse_args(argv[:split])
    opts.extra = argv[split + 1 :]
    anyio.run(SCENARIOS[opts.scenario], opts)
    print(f"ok {opts.scenario}")


if __name__ == "__main__":
    try:
        main()
    except* Check as group:
        traceback.print_exception(group)
        sys.exit(1)
