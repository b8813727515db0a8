"""The routing table: station-initiated action → handler. The only place that says what we answer.

An action missing here is answered by the session with CALLERROR NotSupported when it is an
OCPP 2.0.1 action (it has a schema), NotImplemented otherwise. Not routed yet, on purpose:
Get15118EVCertificate / GetCertificateStatus (ISO 15118 profile),
the smart-charging, reservation, display and monitoring notifications.
"""

from __future__ import annotations

from types import MappingProxyType

from api.ocpp.handlers import Handler, authorization, availability, certificates, data_transfer, diagnostics, firmware
from api.ocpp.handlers import meter_values, provisioning, security, transactions

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
