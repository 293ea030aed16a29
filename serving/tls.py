"""TLS from TF Serving's `--ssl_config_file` (a text-format SSLConfig) for gRPC, and from
`--pg_rest_ssl_config_file` (the same format; it may be the same file) for REST.

An SSLConfig holds PEM texts, not paths: `server_key`, `server_cert`, `custom_ca` (the CA that
client certificates must chain to) and `client_verify` (require a client certificate), as
the real server reads them (model_servers/server.cc). The real server has no TLS for REST;
the `pg_` flag is this server's own.
"""

from __future__ import annotations

import os
import ssl
import tempfile

import grpc

from serving._config_protos import SSLConfig, read_text_proto

__all__ = ["grpc_credentials", "read_ssl_config", "rest_ssl_context"]


def read_ssl_config(flag: str, path: str) -> SSLConfig:
    """The SSLConfig of `--flag=path`; ValueError naming the flag if a PEM is missing."""
    config = read_text_proto(flag, path, SSLConfig())
    for field in ("server_key", "server_cert"):
        if "-----BEGIN" not in getattr(config, field):
            raise ValueError(
                f"Expected --{flag}={path} to hold the PEM text of {field}. Received: "
                + ("nothing" if not getattr(config, field) else "text that is not PEM")
            )
    if config.client_verify and not config.custom_ca:
        raise ValueError(
            f"Expected custom_ca in --{flag}={path}, since client_verify is true: client "
            "certificates are checked against it. Received: no custom_ca"
        )
    return config


def grpc_credentials(config: SSLConfig) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(config.server_key.encode(), config.server_cert.encode())],
        root_certificates=config.custom_ca.encode() if config.custom_ca else None,
        require_client_auth=config.client_verify,
    )


def rest_ssl_context(config: SSLConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # The ssl module loads a key and certificate only from files: a private temporary one,
    # removed at once.
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "server.pem")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(config.server_key.rstrip() + "\n" + config.server_cert.rstrip() + "\n")
        try:
            context.load_cert_chain(path)
        except ssl.SSLError as e:
            raise ValueError(f"The REST server key and certificate do not load: {e}") from None
    if config.custom_ca:
        context.load_verify_locations(cadata=config.custom_ca)
    if config.client_verify:
        context.verify_mode = ssl.CERT_REQUIRED
    return context
