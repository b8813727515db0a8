"""The routing table: station-initiated action → handler. The only place that says what we answer.

An action missing here is answered by the session with CALLERROR NotSupported when it is an
OCPP 2.0.1 action (it has a schema), NotImplemented otherwise. Not routed yet, on purpose:
Get15118EVCertificate / GetCertificateStatus (ISO 15118 profile),
the smart-charging, reservation, display and monitoring notifications.
"""

from __future__ import annotations

from types import MappingProxyType

from api.ocpp.handler import Handler
from api.csms.authorization import handlers as authorization
from api.csms.availability import handlers as availability
from api.csms.security import certificate_handlers as certificates
from api.csms.data_transfer import handlers as data_transfer
from api.csms.diagnostics import handlers as diagnostics
from api.csms.firmware import handlers as firmware
from api.csms.meter_values import handlers as meter_values
from api.csms.provisioning import handlers as provisioning
from api.csms.security import handlers as security
from api.csms.transactions import handlers as transactions

ROUTES: MappingProxyType[str, Handler] = MappingProxyType({
    # B — provisioning
    "BootNotification": provisioning.boot_notification,
    "NotifyReport": provisioning.notify_report,
    # G — availability
    "Heartbeat": availability.heartbeat,
    "StatusNotification": availability.status_notification,
    # A — security
    "SecurityEventNotification": security.security_event_notification,
    "SignCertificate": certificates.sign_certificate,
    # C — authorization, E — transactions, J — meter values
    "Authorize": authorization.authorize,
    "TransactionEvent": transactions.transaction_event,
    "MeterValues": meter_values.meter_values,
    # L — firmware, N — diagnostics, P — data transfer
    "FirmwareStatusNotification": firmware.firmware_status_notification,
    "NotifyEvent": diagnostics.notify_event,
    "LogStatusNotification": diagnostics.log_status_notification,
    "NotifyCustomerInformation": diagnostics.notify_customer_information,
    "DataTransfer": data_transfer.data_transfer,
})

# What the CSMS may send to a station (the operator API offers exactly these).
CSMS_ACTIONS = frozenset({
    "CancelReservation", "CertificateSigned", "ChangeAvailability", "ClearCache", "ClearChargingProfile",
    "ClearDisplayMessage", "ClearVariableMonitoring", "CostUpdated", "CustomerInformation", "DataTransfer",
    "DeleteCertificate", "GetBaseReport", "GetChargingProfiles", "GetCompositeSchedule", "GetDisplayMessages",
    "GetInstalledCertificateIds", "GetLocalListVersion", "GetLog", "GetMonitoringReport", "GetReport",
    "GetTransactionStatus", "GetVariables", "InstallCertificate", "PublishFirmware", "RequestStartTransaction",
    "RequestStopTransaction", "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile",
    "SetDisplayMessage", "SetMonitoringBase", "SetMonitoringLevel", "SetNetworkProfile",
    "SetVariableMonitoring", "SetVariables", "TriggerMessage", "UnlockConnector", "UnpublishFirmware",
    "UpdateFirmware",
})
