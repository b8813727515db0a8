"""What `chargeca serve` prints once it listens: where it is reached and what to do next.

Only paths and commands, never a secret: service output ends up in logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from api.core.context import Context
from api.core.settings import DEFAULT_DATA_DIR
from pki.authorities import served_extra_names
from storage.certificates import CertKind, CertStatus, IssuedCertificate
from storage.db import read_scope
from storage.tokens import ApiToken

LAB_ADDRESS = "127.0.0.1"


@dataclass(frozen=True)
class ServedState:
    host_names: tuple[str, ...]     # what the server certificate names, FQDN first
    any_token: bool                 # an unrevoked API token exists


def served_state(ctx: Context) -> ServedState:
    with read_scope(ctx.engine) as session:
        served = session.exec(select(IssuedCertificate).where(
            IssuedCertificate.kind == CertKind.SERVER, IssuedCertificate.status == CertStatus.ACTIVE)).first()
        token = session.exec(select(ApiToken.id).where(ApiToken.revoked_at == None).limit(1)).first()  # noqa: E711
    names = (served.subject_cn, *served_extra_names(served)) if served else (ctx.settings.fqdn,)
    return ServedState(tuple(names), token is not None)


def next_steps(ctx: Context, state: ServedState, ws_port: int | None, wss_port: int | None) -> str:
    settings = ctx.settings
    chargeca = "chargeca"
    if settings.data_dir != DEFAULT_DATA_DIR.resolve():
        chargeca += f" --data {settings.data_dir}"
    # A name in the certificate that needs no DNS, when there is one: a lab works at once.
    host = LAB_ADDRESS if LAB_ADDRESS in state.host_names else state.host_names[0]
    rest = f"http://{settings.rest_host}:{settings.rest_port}"
    lines = ["", "ChargeCA is running.",
             f"  REST API          {rest}  (OpenAPI: {rest}/docs)"]
    if ws_port:
        lines.append(f"  OCPP profile 1    ws://{host}:{ws_port}/ocpp/<station id>")
    if wss_port:
        lines.append(f"  OCPP profiles 2-3 wss://{host}:{wss_port}/ocpp/<station id>")
    lines += [f"  host names        {', '.join(state.host_names)} (in the server certificate)", "", "Next steps:"]
    if settings.first_token_file.exists():
        lines.append(f"  officer token   in {settings.first_token_file}: store it elsewhere, then delete the file")
    elif not state.any_token:
        lines.append(f"  officer token   none yet: {chargeca} token create --role officer")
    lines += [f"  CSMS root       {chargeca} ca root --out root.pem  (the trust anchor stations install)",
              f"  first station   {chargeca} station add CP_1 --security-profile 2  (prints its password)"]
    if wss_port:
        lines.append(f"  connect it      {chargeca} simulate --station CP_1 --profile 2 --password PASSWORD "
                     f"--url wss://{host}:{wss_port}/ocpp --ca-file root.pem")
    lines.append("  profile 3       see the README's quickstart (key, CSR, `cert sign`, `simulate --cert`)")
    return "\n".join(lines) + "\n"


def print_next_steps(ctx: Context, ws_port: int | None, wss_port: int | None) -> None:
    print(next_steps(ctx, served_state(ctx), ws_port, wss_port), flush=True)
