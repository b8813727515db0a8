"""`chargeca serve`: REST API and OCPP listeners on one asyncio loop."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import uvicorn

from api.core.audit import Actor
from api.core.context import Context, open_context
from api.core.settings import GatewayConfig, Settings, dev_passphrase_in_use, write_private
from api.loop_delay import time_gc_pauses
from api.next_steps import print_next_steps
from api.operations.tokens import create_token
from pki.authorities import init_pki, is_initialized
from storage import audit
from storage.db import session_scope

if TYPE_CHECKING:
    from api.cluster.config import ClusterConfig

log = logging.getLogger("chargeca")

DEV_ORGANIZATION = "ChargeCA Development"
# Besides the development FQDN, which needs no DNS only where *.localhost resolves: a lab connects
# to wss://localhost or wss://127.0.0.1 with host-name checking on.
DEV_EXTRA_NAMES = ("localhost", "127.0.0.1", "::1")
# The cyclic collector's thresholds (gc.set_threshold): see _tune_interpreter.
GC_THRESHOLDS = (50_000, 3, 10)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ensure_pki(ctx: Context, dev: bool) -> None:
    """First run on the embedded default: a development PKI and one officer token, written to a
    file only its owner can read (never to the output: that ends up in service logs)."""
    with session_scope(ctx.engine) as session:
        if is_initialized(session):
            return
        if not dev:
            raise SystemExit("chargeca: error: no PKI here; run `chargeca init --org NAME --fqdn HOST` first")
        hierarchy = init_pki(session, ctx.keystore, organization=DEV_ORGANIZATION, fqdn=ctx.settings.fqdn,
                             policy=ctx.policy, urls=ctx.urls, extra_names=DEV_EXTRA_NAMES)
        audit.append(session, actor="system:first-run", action="pki.init", target=DEV_ORGANIZATION,
                     outcome=audit.Outcome.SUCCESS, detail={"fqdn": ctx.settings.fqdn, "root": hierarchy.root.id,
                                                            "development": True})
    if not ctx.settings.policy_file.exists():
        # A development fleet often includes stations that only speak FTP; production turns it on itself.
        write_private(ctx.settings.policy_file, "# Written by the development first run.\n"
                      "[file_transfer]\nftp_enabled = true\n")
    token = create_token(ctx, Actor("system:first-run"), "officer", "first-run officer")
    ctx.settings.first_token_file.unlink(missing_ok=True)  # left from a data directory whose database went
    write_private(ctx.settings.first_token_file, token.token + "\n")
    print(f"Development PKI created in {ctx.settings.data_dir} for "
          f"{', '.join((ctx.settings.fqdn, *DEV_EXTRA_NAMES))}.")
    print(f"Officer API token written to {ctx.settings.first_token_file} (readable only by you).", flush=True)


def serve(settings: Settings, *, dev: bool = True, workers: int = 1) -> None:
    """``workers`` > 1: that many processes on the same ports (api/workers.py), after the first
    run's PKI and the migrations, which happen here, once."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from api.cluster.config import ClusterConfig

    cluster = ClusterConfig.of(settings)   # refused on SQLite before anything is created
    ctx = open_context(settings, create_dev_passphrase=dev, serving=True)
    ensure_pki(ctx, dev)
    ctx = replace(ctx, policy=settings.policy())   # the first run may have written the policy file
    if dev_passphrase_in_use(settings):
        log.warning("CA keys are encrypted with the development passphrase file in %s/secrets; "
                    "set CHARGECA_KEY_PASSPHRASE or CHARGECA_KEY_PASSPHRASE_FILE in production", settings.data_dir)
    if not _is_loopback(settings.rest_host):
        raise SystemExit("chargeca: error: the REST API serves plain HTTP and only binds to loopback; "
                         "put it behind a TLS-terminating proxy bound to 127.0.0.1")
    if workers > 1:
        if cluster is not None:
            asyncio.run(_reach_nats(cluster))   # refused once, here, not by every worker in turn
        _supervise(ctx, workers)
        return
    _run_here(ctx, lambda ports: print_next_steps(ctx, *ports))


async def _reach_nats(cluster: "ClusterConfig") -> None:
    from api.cluster.node import connect

    await (await connect(cluster)).close()


def serve_worker(settings: Settings, ready: Callable[[], None]) -> None:
    """One worker of `chargeca serve --workers N`: the supervisor made the PKI and ran the migrations."""
    ctx = open_context(settings, run_migrations=False, serving=True)
    _run_here(ctx, lambda _ports: ready())


def _supervise(ctx: Context, count: int) -> None:
    from api.workers import PortReservation, Supervisor, WorkersRefused, plan_workers, unaccepted_connections_advice

    ports = PortReservation()
    try:
        try:
            plan = plan_workers(ctx.settings, count, ctx.policy.file_transfer, ports)
        except WorkersRefused as exc:
            raise SystemExit(f"chargeca: error: {exc}") from None
        ctx.engine.dispose()   # the workers open their own; this process only supervises them
        shown = replace(ctx, settings=plan.base)

        def announce() -> None:
            print_next_steps(shown, plan.base.ocpp_ws_port, plan.base.ocpp_wss_port)
            print(f"  {count} workers share these ports: {', '.join(plan.node_ids())}", flush=True)
            if advice := unaccepted_connections_advice():
                print(f"  note: {advice}", flush=True)

        code = Supervisor(plan, on_ready=announce).run()
    finally:
        ports.close()
    if code:
        raise SystemExit(code)


def _run_here(ctx: Context, started: Callable[[tuple[int | None, int | None]], None]) -> None:
    from api.cluster.config import ClusterConfig
    from api.ocpp.transport.connection_limits import DescriptorLimitError

    cluster = ClusterConfig.of(ctx.settings)
    loop_factory = _fast_paths(ctx.settings)
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(_run(ctx, cluster, started))
    except DescriptorLimitError as exc:
        raise SystemExit(f"chargeca: error: {exc}") from None


def _fast_paths(settings: Settings):
    """Apply the settings' JSON codec; the event loop factory (None: asyncio's own). A choice whose
    package is missing refuses to start, naming the package: it was asked for by name."""
    from api.ocpp import json_codec

    try:
        json_codec.use(settings.json_codec)
    except LookupError as exc:
        raise SystemExit(f"chargeca: error: CHARGECA_JSON_CODEC: {exc}") from None
    if settings.event_loop == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        raise SystemExit("chargeca: error: CHARGECA_EVENT_LOOP: uvloop is not installed "
                         "(pip install 'chargeca[fast]')") from None
    log.info("event loop: uvloop %s; OCPP-J codec: %s", uvloop.__version__, settings.json_codec)
    return uvloop.new_event_loop


def _tune_interpreter(gateway: GatewayConfig) -> None:
    # What start-up built (modules, compiled schemas, the app) lives as long as the process. Frozen,
    # it is out of the cyclic collector's sight: a full collection then walks only what stations
    # allocate, not ~1M start-up objects each time (boot storms: see scripts/bench_gateway.py).
    gc.freeze()
    # A young collection stops the event loop for as long as it walks the young generation, and
    # that holds every connection's waiting reader (its coroutine, frame and future, made anew for
    # each frame) whatever the threshold: ~20 ms with a thousand stations connected, 5-15 ms even
    # at a threshold of 4,000 (docs/benchmarks.md, 2026-12-07). So the first threshold sets how
    # often the loop stops, not for how long: at 50,000, no collection fell inside the 10 s of
    # TransactionEvents in the nine charging runs probed (at 15,000: one or two of 19-29 ms in
    # each; the TransactionEvents' longest answer 18-129 ms over 24 runs against 16-82 over 12).
    # A boot storm's connections are still walked once each. The second threshold at 3 keeps a
    # gen-1 collection, which walks what the young ones kept since the last, to 150-200 ms during
    # a 10,000-station storm (350-410 ms at 10). Garbage held in cycles waits for at most 50,000
    # allocations: a few MB.
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(gateway.switch_interval_ms / 1000)
    time_gc_pauses()
    # As the interpreter has them, not as configured.
    log.info("interpreter: collector thresholds %s, thread switch interval %g ms",
             "/".join(map(str, gc.get_threshold())), round(sys.getswitchinterval() * 1000, 3))


async def _run(ctx: Context, cluster: "ClusterConfig | None",
               started: Callable[[tuple[int | None, int | None]], None]) -> None:
    """``started``: called off the loop once REST and OCPP listen, with the (ws, wss) ports."""
    from api.csms.file_transfer.service import FileServiceConfig
    from api.rest.app import create_app
    from api.rest.serving import server_config, shared_socket
    from api.stack import running_stack

    app = create_app(ctx)
    config = server_config(app, host=ctx.settings.rest_host, port=ctx.settings.rest_port, policy=ctx.policy.rest,
                           log_level="info", lifespan="on")
    rest = uvicorn.Server(config)
    files = FileServiceConfig.from_settings(ctx.settings, ctx.policy.file_transfer)
    if cluster is not None:
        from api.cluster.node import connect

        bus = await connect(cluster)   # NATS unreachable: refused here, naming the URL
        log.info("cluster mode: node %s, NATS %s", cluster.node_id, cluster.nats_url)
    async with running_stack(ctx, app, file_service=files,
                             cluster=(cluster, bus) if cluster is not None else None) as stack:
        log.info("OCPP listening: ws port %s (profile 1), wss port %s (profiles 2 and 3)",
                 stack.listeners.ws_port, stack.listeners.wss_port)
        if stack.files is not None:
            log.info("file service: HTTPS port %s, FTP port %s", stack.files.endpoints.https_port,
                     stack.files.endpoints.ftp_port or "off")
        _tune_interpreter(ctx.settings.gateway)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # Workers share the REST port (SO_REUSEPORT) as they share the OCPP ones: any of them answers.
        sockets = ([shared_socket(ctx.settings.rest_host, ctx.settings.rest_port, config.backlog)]
                   if ctx.settings.shared_ports else None)
        rest_task = asyncio.create_task(rest.serve(sockets=sockets))
        try:
            while not (rest.started or rest_task.done()):
                await asyncio.sleep(0.05)
            if rest.started:
                await asyncio.to_thread(started, (stack.listeners.ws_port, stack.listeners.wss_port))
            await asyncio.wait([rest_task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        finally:
            rest.should_exit = True
            await rest_task
