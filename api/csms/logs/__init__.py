"""N01 — Retrieve log: GetLog with an upload location ChargeCA runs (api/csms/file_transfer),
LogStatusNotification per request, the files kept per station and request, their retention."""
