"""Files to and from stations: one-time grants served over HTTPS and FTP by ChargeCA itself.

The interface for other blocks (logs N01, firmware L01):

    from api.csms.file_transfer import (Endpoints, Locations, Received, GrantError,
                                        grant_download, grant_upload, received_file, revoke)

    locations = grant_download(session, endpoints, station_id="CS1", path=Path("/…/image.bin"),
                               purpose="firmware", request_id=7, ttl=timedelta(hours=1))
    locations.https_url   # https://<public name>:<port>/files/<grant>/<secret>/image.bin
    locations.ftp_url     # ftp://<grant>:<secret>@<public name>:<port>/image.bin (None: FTP off)

    locations = grant_upload(session, endpoints, station_id="CS1", purpose="log", request_id=8,
                             max_bytes=50 * 2**20, ttl=timedelta(hours=1))
    received_file(session, locations.grant_id, data_dir)  # Received(path, size, sha256, …) or None

``endpoints`` is ``FileService.endpoints`` (the running servers: public host name, bound ports);
``chargeca serve`` starts the service (api/stack.py) and the REST app holds it as
``app.state.file_service``. Everything here is synchronous database work on the caller's session.
"""

from api.csms.file_transfer.grants import (
    Direction,
    Endpoints,
    GrantError,
    Locations,
    Received,
    grant_download,
    grant_upload,
    received_file,
    revoke,
)

__all__ = ["Direction", "Endpoints", "GrantError", "Locations", "Received", "grant_download", "grant_upload",
           "received_file", "revoke"]
