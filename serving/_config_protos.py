"""Messages TF Serving defines in protos that `tensorflow-serving-api` does not ship.

`BatchingParameters` (servables/tensorflow/session_bundle_config.proto), `MonitoringConfig`
(config/monitoring_config.proto) and `SSLConfig` (config/ssl_config.proto), with the same
package, message names, field names and numbers as the originals, so the text files are
interchangeable with the real server's. Built as descriptors at import: no protoc needed.
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message,
    message_factory,
    text_format,
    wrappers_pb2,
)

__all__ = [
    "BatchingParameters",
    "MonitoringConfig",
    "PrometheusConfig",
    "SSLConfig",
    "read_text_proto",
]

_F = descriptor_pb2.FieldDescriptorProto
_POOL = descriptor_pool.Default()


def _field(
    message: descriptor_pb2.DescriptorProto,
    name: str,
    number: int,
    kind: int,
    type_name: str = "",
    repeated: bool = False,
) -> None:
    field = message.field.add(name=name, number=number, type=kind)
    field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if type_name:
        field.type_name = type_name


def _file(name: str, package: str, dependencies: tuple[str, ...] = ()):
    proto = descriptor_pb2.FileDescriptorProto(name=name, package=package, syntax="proto3")
    proto.dependency.extend(dependencies)
    return proto


def _build(proto: descriptor_pb2.FileDescriptorProto) -> None:
    try:
        _POOL.FindFileByName(proto.name)
    except KeyError:
        _POOL.Add(proto)


# session_bundle_config.proto (only BatchingParameters; the rest is TF1 session tuning).
_batching = _file(
    "pg_keras_serving/session_bundle_config.proto",
    "tensorflow.serving",
    (wrappers_pb2.DESCRIPTOR.name,),
)
_params = _batching.message_type.add(name="BatchingParameters")
_field(_params, "max_batch_size", 1, _F.TYPE_MESSAGE, ".google.protobuf.Int64Value")
_field(_params, "batch_timeout_micros", 2, _F.TYPE_MESSAGE, ".google.protobuf.Int64Value")
_field(_params, "max_enqueued_batches", 3, _F.TYPE_MESSAGE, ".google.protobuf.Int64Value")
_field(_params, "num_batch_threads", 4, _F.TYPE_MESSAGE, ".google.protobuf.Int64Value")
_field(_params, "thread_pool_name", 5, _F.TYPE_MESSAGE, ".google.protobuf.StringValue")
_field(_params, "allowed_batch_sizes", 6, _F.TYPE_INT64, repeated=True)
_field(_params, "pad_variable_length_inputs", 7, _F.TYPE_BOOL)

# monitoring_config.proto
_monitoring = _file("pg_keras_serving/monitoring_config.proto", "tensorflow.serving")
_prometheus = _monitoring.message_type.add(name="PrometheusConfig")
_field(_prometheus, "enable", 1, _F.TYPE_BOOL)
_field(_prometheus, "path", 2, _F.TYPE_STRING)
_config = _monitoring.message_type.add(name="MonitoringConfig")
_field(_config, "prometheus_config", 1, _F.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig")

# ssl_config.proto: PEM texts (not paths), as the real server's --ssl_config_file holds them.
_ssl = _file("pg_keras_serving/ssl_config.proto", "tensorflow.serving")
_ssl_config = _ssl.message_type.add(name="SSLConfig")
_field(_ssl_config, "server_key", 1, _F.TYPE_STRING)
_field(_ssl_config, "server_cert", 2, _F.TYPE_STRING)
_field(_ssl_config, "custom_ca", 3, _F.TYPE_STRING)
_field(_ssl_config, "client_verify", 4, _F.TYPE_BOOL)

for _proto in (_batching, _monitoring, _ssl):
    _build(_proto)


def _class(full_name: str) -> type:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(full_name))


BatchingParameters = _class("tensorflow.serving.BatchingParameters")
PrometheusConfig = _class("tensorflow.serving.PrometheusConfig")
MonitoringConfig = _class("tensorflow.serving.MonitoringConfig")
SSLConfig = _class("tensorflow.serving.SSLConfig")


M = TypeVar("M", bound=message.Message)


def read_text_proto(flag: str, path: str, into: M) -> M:
    """Fill `into` from the text-format file given as `--flag=path`; errors name both."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ValueError(f"Cannot read --{flag}={path}: {e.strerror}") from None
    try:
        text_format.Parse(text, into)
    except text_format.ParseError as e:
        raise ValueError(
            f"Expected --{flag}={path} to hold a text-format {into.DESCRIPTOR.name}. "
            f"Parse error: {e}"
        ) from None
    return into
