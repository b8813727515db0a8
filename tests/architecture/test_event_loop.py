"""No blocking database call on the event loop (api/ocpp/session.py states the rule): read from the code.

Every ``async def`` under api/ is read; a call in its own body (not in a lambda or nested function,
which is how work is handed to ``asyncio.to_thread`` / ``run_in_executor``) fails the test when it
is a synchronous database primitive (``session_scope(``, ``read_scope(``, ``run_in_session(``,
``Session(``, ``.exec(``, ``.execute(``, ``.scalar(s)(``) or a module-level function of our own packages that
reaches one, directly or through other such functions. A function is known by its name: a private
one (``_x``) within its module, a public one where the caller defines it or imports it (or its
module) from our packages. Time spent waiting for the database on the loop stalls every station's
session at once, and only under load.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[2]

PRIMITIVE_FUNCTIONS = frozenset({"session_scope", "read_scope", "run_in_session", "Session"})
PRIMITIVE_METHODS = frozenset({"exec", "execute", "scalar", "scalars"})
OWN_PACKAGES = ("api", "pki", "policies", "storage")

# (file, async function, callee): why it may block there. Empty: keep it so.
ALLOWED: dict[tuple[str, str, str], str] = {}


def _own_calls(function: ast.AST) -> Iterator[ast.Call]:
    """The calls ``function`` itself makes; nested functions and lambdas run elsewhere (a thread)."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, ast.Call):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _primitive(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name) and func.id in PRIMITIVE_FUNCTIONS:
        return func.id
    if isinstance(func, ast.Attribute) and func.attr in PRIMITIVE_FUNCTIONS | PRIMITIVE_METHODS:
        return func.attr
    return None


def own_names(tree: ast.Module) -> set[str]:
    """Names a module binds to our functions or modules: its own functions and what it imports from us."""
    names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in OWN_PACKAGES:
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.asname or alias.name.split(".")[0] for alias in node.names
                      if alias.name.split(".")[0] in OWN_PACKAGES}
    return names


def _callee(call: ast.Call, module: str, own: set[str]) -> str | None:
    """The key of our module-level function ``call`` may name: ``f(...)`` or ``module.f(...)``."""
    func = call.func
    if isinstance(func, ast.Name) and func.id in own:
        name = func.id
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in own:
        name = func.attr
    else:
        return None
    return f"{module}:{name}" if name.startswith("_") else name


def _key(function: ast.FunctionDef, module: str) -> str:
    return f"{module}:{function.name}" if function.name.startswith("_") else function.name


def blocking_calls(files: dict[str, str]) -> list[str]:
    """``path:line async_function calls callee`` for every blocking call in ``files`` (path → source)."""
    trees = {path: ast.parse(source, path) for path, source in files.items()}
    own = {path: own_names(tree) for path, tree in trees.items()}
    sync = [(path, node) for path, tree in trees.items() for node in tree.body if isinstance(node, ast.FunctionDef)]
    blocking: set[str] = set()
    grew = True
    while grew:  # a function that calls a blocking one blocks too
        grew = False
        for path, function in sync:
            key = _key(function, path)
            if key not in blocking and any(_primitive(c) or _callee(c, path, own[path]) in blocking
                                           for c in _own_calls(function)):
                blocking.add(key)
                grew = True
    found = []
    for path, tree in trees.items():
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef)):
            for call in _own_calls(function):
                callee = _primitive(call) or (key if (key := _callee(call, path, own[path])) in blocking else None)
                if callee is None:
                    continue
                name = callee.rsplit(":", 1)[-1]
                if (path, function.name, name) not in ALLOWED:
                    found.append(f"{path}:{call.lineno} {function.name} calls {name}")
    return sorted(found)


def _api_sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text() for p in sorted((ROOT / "api").rglob("*.py"))}


def test_no_async_function_of_api_calls_the_database_on_the_event_loop():
    assert blocking_calls(_api_sources()) == [], "hand the work to asyncio.to_thread (see api/ocpp/session.py)"


def test_every_allowance_still_names_a_call_that_exists():
    sources = _api_sources()
    for path, function, callee in ALLOWED:
        tree = ast.parse(sources[path])
        [async_function] = [n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef) and n.name == function]
        assert any(_callee(c, path, own_names(tree)) == callee for c in _own_calls(async_function)), \
            (path, function, callee)


# The check itself: the blocking lookup trust_anchors.py had, and the same work handed to a thread.
BLOCKING = '''
def run_in_session(ctx, work): ...

def _require_station(gateway, station_id):
    if run_in_session(gateway.ctx, lambda s: s.get(Station, station_id)) is None:
        raise LookupError(station_id)

def lookup(gateway, station_id):
    return _require_station(gateway, station_id)

async def install_root(gateway, station_id):
    lookup(gateway, station_id)
    cached = run_in_session(gateway.ctx, lambda s: s.get(Station, station_id).additional_root_check)
    with session_scope(gateway.ctx.engine) as session:
        session.exec(select(Station))
'''
OFF_THE_LOOP = '''
def run_in_session(ctx, work): ...

def _require_station(gateway, station_id):
    if run_in_session(gateway.ctx, lambda s: s.get(Station, station_id)) is None:
        raise LookupError(station_id)

async def install_root(gateway, station_id):
    await asyncio.to_thread(_require_station, gateway, station_id)
    cached = await asyncio.to_thread(run_in_session, gateway.ctx, lambda s: s.get(Station, station_id))
    await loop.run_in_executor(None, lambda: _require_station(gateway, station_id))
    async def later():
        await asyncio.to_thread(run_in_session, gateway.ctx, print)
'''


def test_the_check_finds_direct_and_indirect_blocking_calls_and_passes_work_handed_to_a_thread():
    assert blocking_calls({"api/example.py": BLOCKING}) == [
        "api/example.py:12 install_root calls lookup",
        "api/example.py:13 install_root calls run_in_session",
        "api/example.py:14 install_root calls session_scope",
        "api/example.py:15 install_root calls exec",
    ]
    assert blocking_calls({"api/example.py": OFF_THE_LOOP}) == []
