#!/usr/bin/env python3
"""Publish records in Confluent's wire format with Confluent's own Python client.

An independent producer for rtds' tests: the values are encoded by confluent_kafka's
AvroSerializer, ProtobufSerializer or JSONSerializer against a schema registry (byte 0,
the schema's 4-byte id, then for Protobuf the message indexes, then the payload), so
rtds' decoding is checked against another implementation of the format.

    scripts/registry-produce --topic T --format avro --schema user.avsc < records.jsonl

Each stdin line is {"key": <string or null>, "value": <object or null>}; a null value
is a tombstone, sent with a null value. Keys are sent as plain UTF-8 strings.
The schema is registered under the topic's subject (TopicNameStrategy: <topic>-value)
if the registry does not have it yet (auto.register.schemas), and the record's own
schema is used, never the subject's latest (use.latest.version false): calling
again with another schema file moves the subject to a new version.

Values are what each serializer takes:
  avro         the record as a dict. Fields of a logical type take JSON forms too:
               timestamp-millis/-micros (and local-) an RFC 3339 string or an
               integer, date "YYYY-MM-DD" or days, time-millis/-micros "HH:MM:SS[.f]",
               decimal a string ("12.34") or a number, uuid a string; bytes and fixed
               a string whose code points are the bytes (Avro's JSON encoding).
  protobuf     the message in Protobuf's JSON mapping (json_format.ParseDict);
               the .proto is compiled at run time with grpcio-tools' protoc.
  json-schema  the object itself (validated against the schema by the serializer).

Prints one JSON line at the end: {"sent": N, "schema_id": ID} (ID: the id in the
first encoded value; null when every record was a tombstone). Exits 1 with a
message on stderr on a bad line (nothing is sent then), a registry error or a
delivery error.
"""

import argparse
import datetime
import decimal
import json
import os
import struct
import sys
import tempfile
import uuid

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.serialization import MessageField, SerializationContext


def fail(msg):
    print(f"registry-produce: error: {msg}", file=sys.stderr)
    sys.exit(1)


# ------------------------------------------------------------------ avro

def parse_timestamp(v, unit):
    """RFC 3339 string or integer -> what fastavro takes for timestamp-*."""
    if isinstance(v, (int, datetime.datetime)):
        return v
    if isinstance(v, str):
        t = datetime.datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
        return t
    raise ValueError(f"a {unit} timestamp wants an RFC 3339 string or an integer, not {v!r}")


def avro_logical(schema, v):
    lt = schema.get("logicalType")
    if v is None:
        return None
    if lt in ("timestamp-millis", "timestamp-micros"):
        t = parse_timestamp(v, lt)
        if isinstance(t, datetime.datetime) and t.tzinfo is None:
            t = t.replace(tzinfo=datetime.timezone.utc)  # a bare time is UTC
        return t
    if lt in ("local-timestamp-millis", "local-timestamp-micros"):
        t = parse_timestamp(v, lt)
        if isinstance(t, datetime.datetime) and t.tzinfo is not None:
            t = t.replace(tzinfo=None)
        return t
    if lt == "date":
        return datetime.date.fromisoformat(v) if isinstance(v, str) else v
    if lt in ("time-millis", "time-micros"):
        return datetime.time.fromisoformat(v) if isinstance(v, str) else v
    if lt == "decimal":
        if isinstance(v, float):
            v = repr(v)
        return decimal.Decimal(v) if isinstance(v, (str, int)) else v
    if lt == "uuid":
        return str(uuid.UUID(v)) if isinstance(v, str) else v
    return avro_value(dict(schema, logicalType=None), v, {})  # unknown: its base type


def avro_value(schema, v, named):
    """Turn a JSON value into what fastavro writes for this schema."""
    if isinstance(schema, str):
        if schema in named:
            return avro_value(named[schema], v, named)
        if schema in ("bytes", "fixed") and isinstance(v, str):
            return v.encode("latin-1")
        return v
    if isinstance(schema, list):  # a union: null, else the first branch that takes v
        if v is None:
            return None
        errors = []
        for branch in schema:
            if branch == "null":
                continue
            try:
                return avro_value(branch, v, named)
            except (ValueError, TypeError, decimal.InvalidOperation) as e:
                errors.append(str(e))
        raise ValueError(f"no branch of the union {json.dumps(schema)} takes {v!r}: {errors}")
    t = schema.get("type")
    if schema.get("logicalType"):
        return avro_logical(schema, v)
    if t == "record" or t == "error":
        name = schema["name"]
        if schema.get("namespace") and "." not in name:
            named[f"{schema['namespace']}.{name}"] = schema
        named[name] = schema
        named[name.rsplit(".", 1)[-1]] = schema
        if not isinstance(v, dict):
            return v
        out = dict(v)
        for field in schema.get("fields", []):
            if field["name"] in out:
                out[field["name"]] = avro_value(field["type"], out[field["name"]], named)
        return out
    if t in ("enum", "fixed"):
        named[schema["name"]] = schema
        if t == "fixed" and isinstance(v, str):
            return v.encode("latin-1")
        return v
    if t == "array":
        return [avro_value(schema["items"], x, named) for x in v] if isinstance(v, list) else v
    if t == "map":
        return {k: avro_value(schema["values"], x, named) for k, x in v.items()} if isinstance(v, dict) else v
    return avro_value(t, v, named)  # {"type": "long"} and the like


def avro_serializer(client, schema_text, conf):
    from confluent_kafka.schema_registry.avro import AvroSerializer

    schema = json.loads(schema_text)
    serializer = AvroSerializer(client, schema_text, conf=conf)
    return serializer, lambda v: avro_value(schema, v, {})


# ------------------------------------------------------------------ protobuf

def compile_proto(path):
    """The FileDescriptorSet of a .proto and its imports, by grpcio-tools' protoc."""
    import importlib.resources

    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    include = str(importlib.resources.files("grpc_tools") / "_proto")  # google/protobuf/*.proto
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        rc = protoc.main(["protoc", f"-I{os.path.dirname(os.path.abspath(path))}", f"-I{include}",
                          "--include_imports", f"--descriptor_set_out={out}", os.path.basename(path)])
        if rc != 0:
            fail(f"protoc could not compile {path} (its message is above)")
        with open(out, "rb") as f:
            return descriptor_pb2.FileDescriptorSet.FromString(f.read())


def protobuf_serializer(client, path, message, conf):
    from google.protobuf import descriptor_pool, json_format, message_factory
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer

    files = compile_proto(path)
    pool = descriptor_pool.DescriptorPool()
    for fdp in files.file:  # dependencies first, as protoc lists them
        pool.Add(fdp)
    main = files.file[-1]
    names = [f"{main.package}.{m.name}" if main.package else m.name for m in main.message_type]
    if message is None:
        if len(names) != 1:
            fail(f"{path} defines {len(names)} messages ({', '.join(names)}): name one with --message")
        full = names[0]
    elif message in names or "." in message:
        full = message
    else:
        full = f"{main.package}.{message}" if main.package else message
    try:
        desc = pool.FindMessageTypeByName(full)
    except KeyError:
        fail(f"no message {message or full} in {path} (its messages: {', '.join(names)})")
    cls = message_factory.GetMessageClass(desc)
    serializer = ProtobufSerializer(cls, client, conf=conf)
    return serializer, lambda v: json_format.ParseDict(v, cls())


# ------------------------------------------------------------------ json schema

def json_schema_serializer(client, schema_text, conf):
    from confluent_kafka.schema_registry.json_schema import JSONSerializer

    serializer = JSONSerializer(schema_text, client, conf=conf)
    return serializer, lambda v: v


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers (default 127.0.0.1:9092)")
    ap.add_argument("--registry", default="http://127.0.0.1:8081/apis/ccompat/v7",
                    help="the schema registry's Confluent API (default http://127.0.0.1:8081/apis/ccompat/v7)")
    ap.add_argument("--topic", required=True)
    ap.add_argument("--format", required=True, choices=["avro", "protobuf", "json-schema"])
    ap.add_argument("--schema", required=True, metavar="FILE", help=".avsc, .proto or JSON Schema file")
    ap.add_argument("--message", metavar="NAME", help="protobuf: the message type, by name or full name (default: the file's only one)")
    ap.add_argument("--partition", type=int, help="send every record to this partition")
    args = ap.parse_args()
    if args.message and args.format != "protobuf":
        ap.error("--message is for --format protobuf")

    client = SchemaRegistryClient({"url": args.registry})
    conf = {"auto.register.schemas": True, "use.latest.version": False}
    try:
        if args.format == "protobuf":
            serializer, prepare = protobuf_serializer(client, args.schema, args.message, conf)
        else:
            with open(args.schema) as f:
                text = f.read()
            make = avro_serializer if args.format == "avro" else json_schema_serializer
            serializer, prepare = make(client, text, conf)
    except OSError as e:
        fail(f"cannot read the schema: {e}")
    except Exception as e:  # a schema the serializer refuses
        fail(f"bad {args.format} schema {args.schema}: {type(e).__name__}: {e}")

    # Encode every line before sending any: a bad line sends nothing.
    ctx = SerializationContext(args.topic, MessageField.VALUE)
    records, schema_id = [], None
    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or set(rec) - {"key", "value"}:
                raise ValueError('want {"key": ..., "value": ...}')
            key, value = rec.get("key"), rec.get("value")
            if key is not None and not isinstance(key, str):
                raise ValueError("the key must be a string or null")
            data = None if value is None else serializer(prepare(value), ctx)
        except Exception as e:
            fail(f"stdin line {n}: {type(e).__name__}: {e}")
        if data is not None and schema_id is None:
            if len(data) < 5 or data[0] != 0:
                fail(f"stdin line {n}: the serializer wrote no Confluent header: {data[:8]!r}")
            schema_id = struct.unpack(">I", data[1:5])[0]
        records.append((None if key is None else key.encode(), data))

    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(f"{msg.topic()}[{msg.partition()}]: {err}")

    # A record not delivered within 30 s fails with librdkafka's reason (the default
    # would retry for 5 minutes).
    producer = Producer({"bootstrap.servers": args.bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 5, "message.timeout.ms": 30000})
    extra = {} if args.partition is None else {"partition": args.partition}
    for key, data in records:
        while True:
            try:
                producer.produce(args.topic, key=key, value=data, on_delivery=delivered, **extra)
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(45)
    if left:
        errors.append(f"{left} records still undelivered after 45 s")
    if errors:
        fail(f"delivery to {args.bootstrap} failed: " + "; ".join(errors[:5]))
    print(json.dumps({"sent": len(records), "schema_id": schema_id}))


if __name__ == "__main__":
    main()
