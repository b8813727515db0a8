"""What `chargeca serve` runs on one event loop beside the REST app, started and stopped in one place.

The OCPP gateway, its ws/wss listeners, the writer of security events spooled through a database
outage, the certificate workers (renewals, grace revocation, and the one outbox engine that sends
every stored call: CertificateSigned deliveries, renewal requests and operator jobs), the watch that
closes connections a change ends (revocation, kill switch), the firmware campaigns' worker, the file
service stations download from and upload to, the retention of what stations send, the SQLite
database's WAL checkpointer, and the REST routes' handles on them (operator call jobs, listener
reloads). The server and the tests start exactly this; only the options differ. Stopped in the
reverse order: no new connection first, then the work that might still talk to stations.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from api.core.context import Context
from api.core.settings import GatewayConfig
from api.csms.customer_information.retention import run_customer_information_retention
from api.csms.file_transfer.process import FileServiceProcess
from api.csms.file_transfer.retention import run_file_grant_retention
from api.csms.file_transfer.service import FileService, FileServiceConfig, start_file_service
from api.csms.firmware.location import serving
from api.csms.logs.retention import run_log_retention
from api.csms.meter_values.retention import run_meter_value_maintenance
from api.csms.monitoring.retention import run_station_event_retention
from api.csms.operator_calls import CallJobs
from api.csms.provisioning.onboarding import Onboarding
from api.csms.routes import ROUTES
from api.csms.security.certificate_workers import CertificateWorkers, start_certificate_workers
from api.csms.security.event_spool import SpoolWriter, open_spool
from api.csms.security.retention import run_security_event_retention
from api.csms.transactions.write_behind import transaction_store
from api.loop_delay import probe_loop_delay
from api.ocpp.gateway import Gateway
from api.ocpp.handler import Handler
from api.ocpp.message_log.retention import run_message_log_retention
from api.ocpp.transport.disconnects import DisconnectWatch
from api.ocpp.transport.listener import ListenerConfig, Listeners, start_listeners
from api.ocpp.transport.tls_material import TlsMaterial
from api.rest.routers.rotations import attach_listeners
from api.rest.routers.station_ops import attach_gateway
from api.rotation.firmware_campaigns import CampaignWorker
from storage.wal_checkpointer import checkpointer_for

if TYPE_CHECKING:   # imported only in cluster mode: one process loads no NATS client
    from api.cluster.bus import Bus
    from api.cluster.config import ClusterConfig


@dataclass(frozen=True)
class Stack:
    gateway: Gateway
    listeners: Listeners
    certificates: CertificateWorkers
    jobs: CallJobs
    disconnects: DisconnectWatch
    files: FileService | FileServiceProcess | None = None
    campaigns: CampaignWorker | None = None


@contextlib.asynccontextmanager
async def running_stack(ctx: Context, app: FastAPI, *, gateway_config: GatewayConfig | None = None,
                        listener_config: ListenerConfig | None = None, routes: Mapping[str, Handler] = ROUTES,
                        certificate_options: Mapping[str, Any] | None = None,
                        file_service: FileServiceConfig | None = None,
                        cluster: tuple["ClusterConfig", "Bus"] | None = None) -> AsyncIterator[Stack]:
    """Defaults: the configuration of ``chargeca serve``, all from ``ctx.settings`` (its ``gateway``
    and listener knobs), except the file service: ``chargeca serve`` passes its configuration
    (``FileServiceConfig.from_settings``), and without one none runs (tests ask for it). ``cluster``:
    this process is a node of a cluster (api/cluster/), on the NATS connection given."""
    async with contextlib.AsyncExitStack() as stop:
        if (checkpointer := checkpointer_for(ctx.engine)) is not None:
            stop.enter_context(checkpointer)   # stopped last, once nothing of ours writes any more
        gateway = Gateway(ctx, gateway_config, routes=routes, spool=open_spool(ctx))
        stop.push_async_callback(gateway.aclose)
        # Before any station can connect: what the journal holds from the last run is stored first.
        gateway.write_behind = await transaction_store(ctx, gateway.config).start()
        stop.push_async_callback(gateway.write_behind.aclose)
        node = None
        if cluster is not None:
            from api.cluster.node import running_node

            # Before any station can connect: every connection is claimed for this node.
            node = await stop.enter_async_context(running_node(*cluster, gateway))
        spool_writer = SpoolWriter(ctx, gateway.spool).start()
        stop.push_async_callback(spool_writer.aclose)
        jobs = attach_gateway(app, gateway)
        Onboarding(gateway).attach()
        # Started before any station can connect; rows a dead process left "sent" are due again
        # by their lease (storage/leases.py), nothing to recover first.
        certificates = start_certificate_workers(gateway, other_kinds=jobs.kinds, **(certificate_options or {}))
        stop.push_async_callback(certificates.aclose)
        listeners = await start_listeners(ctx, gateway.session_handler, listener_config, registry=gateway.registry,
                                          holder_elsewhere=node.holder_elsewhere if node is not None else None)
        stop.push_async_callback(listeners.close)
        attach_listeners(app, listeners)  # rotations reload the wss TLS material at once
        retention = asyncio.create_task(run_security_event_retention(ctx), name="security-event-retention")
        stop.callback(retention.cancel)
        meter_values = asyncio.create_task(run_meter_value_maintenance(ctx), name="meter-value-maintenance")
        stop.callback(meter_values.cancel)
        for upkeep, name in ((run_station_event_retention, "station-event-retention"),
                             (run_customer_information_retention, "customer-information-retention"),
                             (run_log_retention, "log-retention")):
            task = asyncio.create_task(upkeep(ctx), name=name)
            stop.callback(task.cancel)
        files = None
        if file_service is not None:
            # HTTPS and FTPS present the wss listener's certificates (rotations included).
            tls = None if file_service.own_process else listeners.tls or TlsMaterial(ctx)
            files = await start_file_service(ctx, file_service, tls)
            stop.push_async_callback(files.stop_async)
            if isinstance(files, FileService) and tls is not None and tls is listeners.tls:
                # HTTPS follows the shared material by itself; FTPS sessions are made from a context of their own.
                listeners.on_tls_reload.append(_ftps_following(files, tls))
            app.state.file_service = files
            grants = asyncio.create_task(run_file_grant_retention(ctx, files.store), name="file-grant-retention")
            stop.callback(grants.cancel)
            stop.enter_context(serving(files))  # where firmware download locations point
        message_log = asyncio.create_task(run_message_log_retention(ctx), name="message-log-retention")
        stop.callback(message_log.cancel)
        loop_delay = asyncio.create_task(probe_loop_delay(), name="loop-delay-probe")
        stop.callback(loop_delay.cancel)
        # Revocations, disabled or deleted stations, profile changes: their live connections close.
        disconnects = await DisconnectWatch(ctx, listeners.registry).start()
        stop.push_async_callback(disconnects.aclose)
        if node is not None:
            from api.cluster.notices import Notices

            notices = await Notices(node.bus, cluster[0].node_id).start(listeners, disconnects)
            stop.push_async_callback(notices.aclose)
        # Firmware campaigns resume from their rows (api/rotation/firmware_campaigns.py).
        campaigns = CampaignWorker(gateway).start()
        stop.push_async_callback(campaigns.aclose)
        yield Stack(gateway, listeners, certificates, jobs, disconnects, files, campaigns)


def _ftps_following(files: FileService, tls: TlsMaterial) -> Callable[[], Awaitable[None]]:
    async def reload() -> None:
        await asyncio.to_thread(files.reload_tls, tls)
    return reload
