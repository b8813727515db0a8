"""`chargeca init`, `serve` and `simulate`: making the PKI, running the service, running stations against it."""

from __future__ import annotations

import argparse
from pathlib import Path

from api.cli.common import EXIT_SETUP, EXIT_USAGE, CliError, Command, integer, number, officer, settings_of
from api.core.context import open_context
from api.core.settings import Settings, write_config
from pki.authorities import PkiAlreadyInitialized, init_pki
from pki.pkcs11_keystore import Pkcs11Settings
from pki.profiles import public_url_problem
from storage import audit
from storage.db import session_scope


def _pkcs11_option(args: argparse.Namespace) -> Pkcs11Settings | None:
    token_options = {"--module": args.module, "--token-label": args.token_label, "--pin-file": args.pin_file}
    if args.keystore == "file":
        given = [name for name, value in token_options.items() if value]
        if given:
            raise CliError(f"{', '.join(given)} only apply with --keystore pkcs11", EXIT_USAGE)
        return None
    missing = [name for name, value in token_options.items() if not value]
    if missing:
        raise CliError(f"--keystore pkcs11 needs {', '.join(missing)}", EXIT_USAGE)
    return Pkcs11Settings(Path(args.module).absolute(), args.token_label, Path(args.pin_file).absolute())


def cmd_init(args: argparse.Namespace) -> None:
    problem = args.public_url is not None and public_url_problem(args.public_url)
    if problem:   # a usage error, before the settings name the variable the flag stands in for
        raise CliError(f"--public-url {problem}", EXIT_USAGE)
    settings = settings_of(args).with_overrides(fqdn=args.fqdn, public_url=args.public_url,
                                              pkcs11=_pkcs11_option(args))
    ctx = open_context(settings, create_dev_passphrase=args.dev_passphrase)
    try:
        with session_scope(ctx.engine) as session:
            hierarchy = init_pki(session, ctx.keystore, organization=args.org, fqdn=args.fqdn,
                                 policy=ctx.policy, urls=ctx.urls, extra_names=args.san)
            audit.append(session, actor=officer().name, action="pki.init", target=args.org,
                         outcome=audit.Outcome.SUCCESS,
                         detail={"fqdn": args.fqdn, "san": args.san, "root": hierarchy.root.id,
                                 "keystore": settings.keystore_backend})
            # Before the commit: a PKI committed without its config.toml (init stopped between
            # the two) had later commands look for token keys among the files, and init refused again.
            _write_config(settings)
    except PkiAlreadyInitialized as exc:
        raise CliError(f"{exc} (data directory {settings.data_dir})") from exc
    print(f"PKI created in {settings.data_dir}")
    if settings.pkcs11:
        print(f"  CA keys in PKCS#11 token {settings.pkcs11.token_label!r} ({settings.pkcs11.module}); "
              "server TLS keys are encrypted files")
    for label, authority in (("root", hierarchy.root), ("station CA", hierarchy.station_ca),
                             ("server CA", hierarchy.server_ca)):
        print(f"  {label:<11} {authority.id}  {authority.certificate.subject.rfc4514_string()}")
    for record in hierarchy.server_certificates:
        print(f"  server cert {record.serial_hex}  CN={record.subject_cn}")


def _write_config(settings: Settings) -> None:
    try:
        write_config(settings)
    except OSError as exc:
        raise CliError(f"cannot write {settings.config_file}: {exc.strerror or exc}; nothing was created",
                       EXIT_SETUP) from exc


def cmd_serve(args: argparse.Namespace) -> None:
    from api.server import serve  # imported here: the other commands need no server stack
    from api.workers import WorkersRefused, worker_count

    settings = settings_of(args)
    try:
        workers = worker_count(settings, args.workers)
    except WorkersRefused as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    serve(settings, dev=not args.no_dev_init, workers=workers)



def cmd_simulate(args: argparse.Namespace) -> None:
    import asyncio

    from simulator.fleet import FleetConfig, config_problem, register, run_fleet

    settings = settings_of(args)
    url = args.url or (f"ws://127.0.0.1:{settings.ocpp_ws_port}/ocpp" if args.profile == 1
                       else f"wss://127.0.0.1:{settings.ocpp_wss_port}/ocpp")
    rest_url = args.rest_url or f"http://{settings.rest_host}:{settings.rest_port}"
    config = FleetConfig(url=url, count=args.stations, prefix=args.prefix, profile=args.profile,
                         password=args.password, ca_file=Path(args.ca_file) if args.ca_file else None,
                         server_name=args.server_name, cert_dir=Path(args.cert_dir) if args.cert_dir else None,
                         rest_url=rest_url, token=args.token, heartbeat_seconds=args.heartbeat,
                         duration_seconds=args.duration, stations=tuple(args.station),
                         client_cert=Path(args.cert) if args.cert else None,
                         client_key=Path(args.key) if args.key else None)
    problem = config_problem(config)
    if problem:
        raise CliError(problem, EXIT_USAGE)
    if args.register and not args.token:
        raise CliError("--register needs --token (an operator or officer token)", EXIT_USAGE)
    passwords = register(config) if args.register else None
    report = asyncio.run(run_fleet(config, passwords, announce=lambda line: print(line, flush=True)))
    for identity, reason in sorted(report.refused.items()):
        print(f"{identity}: refused: {reason}")
    for identity, reason in sorted(report.lost.items()):
        print(f"{identity}: {reason}")
    total = len(config.identities())
    print(f"booted {report.booted}/{total}, heartbeats {report.heartbeats}, errors {report.errors}")
    if report.booted < total:
        raise CliError(f"{total - report.booted} station(s) did not boot")
    if report.lost:
        raise CliError(f"{len(report.lost)} station(s) lost the connection before --duration ended")


def add_commands(commands: argparse._SubParsersAction, command: Command) -> None:
    """init, serve, simulate."""
    init = command("init", cmd_init, "create the CA hierarchy and CSMS server certificates, once")
    init.add_argument("--org", required=True, help="the CSO's OrganizationName (O of every certificate)")
    init.add_argument("--fqdn", required=True, help="host name stations use to reach the CSMS")
    init.add_argument("--public-url", help="base URL for CRL and OCSP links in certificates")
    init.add_argument("--san", action="append", default=[], metavar="NAME",
                      help="another host name or IP address for the server certificate (repeatable)")
    init.add_argument("--dev-passphrase", action="store_true",
                      help="generate a key passphrase file in the data directory (development only)")
    init.add_argument("--keystore", choices=("file", "pkcs11"), default="file",
                      help="where CA keys are generated: encrypted files (default) or a PKCS#11 token; "
                           "recorded in config.toml for every later command")
    init.add_argument("--module", help="PKCS#11 module (.so) of the HSM, with --keystore pkcs11")
    init.add_argument("--token-label", help="label of the token that holds the CA keys")
    init.add_argument("--pin-file", help="file holding the token's user PIN, mode 0600 (the PIN is never stored)")

    serve = command("serve", cmd_serve, "run the REST API and the OCPP listeners")
    serve.add_argument("--no-dev-init", action="store_true",
                       help="do not create a development PKI when none exists")
    serve.add_argument("--workers", type=integer(1, 1024), metavar="N",
                       help="processes sharing the ports and the database (default: one per core on PostgreSQL "
                            "with CHARGECA_NATS_URL set, else 1; more than 1 needs both)")

    simulate = command("simulate", cmd_simulate, "run simulated charging stations against a CSMS")
    simulate.add_argument("--url", help="CSMS endpoint, the station identity is appended (default: "
                          "ws://127.0.0.1:$CHARGECA_OCPP_WS_PORT/ocpp for profile 1, "
                          "wss://127.0.0.1:$CHARGECA_OCPP_WSS_PORT/ocpp for profiles 2 and 3)")
    simulate.add_argument("--station", action="append", default=[], metavar="ID",
                          help="a station identity (repeatable); default: --stations N named PREFIX-0001...")
    simulate.add_argument("--stations", type=integer(1, 100_000), default=1)
    simulate.add_argument("--prefix", default="SIM", help="identities are PREFIX-0001, PREFIX-0002, ...")
    simulate.add_argument("--profile", type=int, choices=(1, 2, 3), default=1)
    simulate.add_argument("--password", help="Basic-auth password of every station (profiles 1 and 2)")
    simulate.add_argument("--ca-file", help="CSMS root to trust (wss), e.g. from `chargeca ca root --out FILE`")
    simulate.add_argument("--server-name", help="host name to check the server certificate for "
                          "(default: the URL's host)")
    simulate.add_argument("--cert", metavar="FILE", help="profile 3, one station: its certificate chain (PEM, "
                          "leaf first, as `chargeca cert sign` prints it)")
    simulate.add_argument("--key", metavar="FILE", help="profile 3, with --cert: the station's private key (PEM)")
    simulate.add_argument("--cert-dir", help="profile 3: ID.pem (chain) and ID.key per station")
    simulate.add_argument("--register", action="store_true", help="register the stations through REST first")
    simulate.add_argument("--rest-url", help="REST API for --register (default: "
                          "http://$CHARGECA_REST_HOST:$CHARGECA_REST_PORT)")
    simulate.add_argument("--token", help="API token for --register")
    simulate.add_argument("--heartbeat", type=number(0.1, 86_400), default=60.0, help="seconds between heartbeats")
    simulate.add_argument("--duration", type=number(0, 366 * 86_400), default=60.0,
                          help="seconds to stay connected")
