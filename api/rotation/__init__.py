"""Scripted rotations, without HTTP: station certificates, CSMS server certificates, CSMS root.

Each rotation runs in passes. A pass decides from the database and the stations' inventories
what is left, does what it can within its time budget (offline stations stay pending), and
returns a Report with one progress record per station and step; a dry run returns the plan and
sends or changes nothing. Re-running a pass after an interruption resumes: every step is
idempotent. The REST API (api/rest/routers/rotations.py) and the scripts in scripts/ drive them.
"""

from api.rotation.csms_root import RolloverView, rollover_view, rotate_csms_root
from api.rotation.report import Progress, Report, RotationRefused
from api.rotation.server_certificate import rotate_server_certificate
from api.rotation.station_certificates import CertificateFilter, rotate_station_certificates

__all__ = ["CertificateFilter", "Progress", "Report", "RolloverView", "RotationRefused", "rollover_view",
           "rotate_csms_root", "rotate_server_certificate", "rotate_station_certificates"]
