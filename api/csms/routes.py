"""The routing tables: station-initiated action → handler (ROUTES), CSMS-initiated action →
command and the reader of its answer (COMMANDS, ANSWERS). The only place that says what we
answer and what we send.

A station action missing from ROUTES is answered by the session with CALLERROR NotSupported
when it is an OCPP 2.0.1 action (it has a schema), NotImplemented otherwise; the 2.0.1 ones left
out on purpose are in NOT_ROUTED with the reason (a test fails on any action in none of these).
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from api.csms import transaction_followers
from api.csms.authorization import commands as authorization_commands
from api.csms.authorization import handlers as authorization
from api.csms.availability import commands as availability_commands
from api.csms.availability import handlers as availability
from api.csms.customer_information import commands as customer_information_commands
from api.csms.customer_information import handlers as customer_information
from api.csms.data_transfer import commands as data_transfer_commands
from api.csms.data_transfer import handlers as data_transfer
from api.csms.display import commands as display
from api.csms.display import handlers as display_handlers
from api.csms.firmware import commands as firmware_commands
from api.csms.firmware import handlers as firmware
from api.csms.local_list import commands as local_list
from api.csms.logs import commands as logs_commands
from api.csms.logs import handlers as logs
from api.csms.meter_values import handlers as meter_values
from api.csms.monitoring import commands as monitoring_commands
from api.csms.monitoring import handlers as monitoring
from api.csms.provisioning import commands as provisioning_commands
from api.csms.provisioning import handlers as provisioning
from api.csms.remote_control import commands as remote_control
from api.csms.reservations import commands as reservations
from api.csms.reservations import handlers as reservations_handlers
from api.csms.security import certificate_handlers as certificates
from api.csms.security import commands as security_commands
from api.csms.security import handlers as security
from api.csms.smart_charging import commands as smart_charging
from api.csms.tariff_cost import commands as tariff_cost
from api.csms.tariff_cost import handlers as tariff_cost_handlers
from api.csms.transactions import commands as transactions_commands
from api.csms.transactions import handlers as transactions
from api.ocpp.command import CommandType
from api.ocpp.handler import Handler

ROUTES: MappingProxyType[str, Handler] = MappingProxyType({
    # B — provisioning
    "BootNotification": provisioning.boot_notification,
    "NotifyReport": provisioning.notify_report,
    # G — availability
    "Heartbeat": availability.heartbeat,
    "StatusNotification": availability.status_notification,
    # H — reservations
    "ReservationStatusUpdate": reservations_handlers.reservation_status_update,
    # A — security (L raises an alert on the firmware events)
    "SecurityEventNotification": firmware.alerting(security.security_event_notification),
    "SignCertificate": certificates.sign_certificate,
    # C — authorization (I01: with the tariff), E — transactions (F, H, I follow it), J — meter values
    "Authorize": tariff_cost_handlers.showing_tariff(authorization.authorize),
    "TransactionEvent": transaction_followers.following(transactions.transaction_event),
    "MeterValues": meter_values.meter_values,
    # L — firmware, N — logs
    "FirmwareStatusNotification": firmware.firmware_status_notification,
    "PublishFirmwareStatusNotification": firmware.publish_firmware_status_notification,
    "LogStatusNotification": logs.log_status_notification,
    # N — monitoring (G reads the connector events), customer information; O — display; P — data transfer
    "NotifyEvent": monitoring.notify_event,
    "NotifyMonitoringReport": monitoring.notify_monitoring_report,
    "NotifyCustomerInformation": customer_information.notify_customer_information,
    "NotifyDisplayMessages": display_handlers.notify_display_messages,
    "DataTransfer": data_transfer.data_transfer,
})

# CSMS → station: every action the CSMS sends, by its command (api/ocpp/command.py). The answer
# to each is read by that command's ``parse`` (ANSWERS), whichever door sent it.
COMMANDS: MappingProxyType[str, CommandType] = MappingProxyType({command.action: command for command in (
    # A, M — security
    security_commands.CertificateSigned, security_commands.DeleteCertificate,
    security_commands.GetInstalledCertificateIds, security_commands.InstallCertificate,
    # B — provisioning
    provisioning_commands.GetBaseReport, provisioning_commands.GetReport, provisioning_commands.GetVariables,
    provisioning_commands.SetVariables, provisioning_commands.SetNetworkProfile, provisioning_commands.Reset,
    # C — authorization, D — local list, E — transactions
    authorization_commands.ClearCache,
    local_list.GetLocalListVersion, local_list.SendLocalList,
    transactions_commands.GetTransactionStatus,
    # F — remote control, G — availability, H — reservations, I — tariff and cost
    remote_control.RequestStartTransaction, remote_control.RequestStopTransaction,
    remote_control.TriggerMessage, remote_control.UnlockConnector,
    availability_commands.ChangeAvailability,
    reservations.CancelReservation, reservations.ReserveNow,
    tariff_cost.CostUpdated,
    # K — smart charging
    smart_charging.ClearChargingProfile, smart_charging.GetChargingProfiles,
    smart_charging.GetCompositeSchedule, smart_charging.SetChargingProfile,
    # L — firmware
    firmware_commands.PublishFirmware, firmware_commands.UnpublishFirmware, firmware_commands.UpdateFirmware,
    # N — logs, monitoring, customer information
    logs_commands.GetLog,
    monitoring_commands.ClearVariableMonitoring, monitoring_commands.GetMonitoringReport,
    monitoring_commands.SetMonitoringBase, monitoring_commands.SetMonitoringLevel,
    monitoring_commands.SetVariableMonitoring,
    customer_information_commands.CustomerInformation,
    # O — display, P — data transfer
    display.ClearDisplayMessage, display.GetDisplayMessages, display.SetDisplayMessage,
    data_transfer_commands.DataTransfer,
)})

ANSWERS: MappingProxyType[str, Callable[[dict[str, Any]], Any]] = MappingProxyType(
    {action: command.parse for action, command in COMMANDS.items()})

# What the CSMS may send to a station (the operator API offers exactly these).
CSMS_ACTIONS = frozenset(COMMANDS)

# Station → CSMS actions of OCPP 2.0.1 that are answered NotSupported for now, and why.
NOT_ROUTED: MappingProxyType[str, str] = MappingProxyType({
    "Get15118EVCertificate": "ISO 15118 Plug & Charge contract certificates: no contract CA (M06)",
    "GetCertificateStatus": "OCSP for ISO 15118 certificates on behalf of the station: not offered (M06)",
    "ClearedChargingLimit": "smart charging (K) is not implemented yet",
    "NotifyChargingLimit": "smart charging (K) is not implemented yet",
    "NotifyEVChargingNeeds": "smart charging with ISO 15118 (K15-K17) is not implemented yet",
    "NotifyEVChargingSchedule": "smart charging with ISO 15118 (K15-K17) is not implemented yet",
    "ReportChargingProfiles": "smart charging (K) is not implemented yet: GetChargingProfiles answers are "
                              "read, the reports that follow are not kept",
})
