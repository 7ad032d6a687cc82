"""Calls the helloworld.Greeter server with grpcio, a standard non-Rust gRPC client.

Run by grpc/tests/grpc.rs in the venv that .ci/python-env.sh sets up:

    grpcio_client.py ADDRESS METHOD [--token TOKEN] [--name NAME] [--count N]

ADDRESS is host:port; METHOD is SayHello, SayHelloStream or SayHelloAdmin. The call is
made over plaintext HTTP/2 with `authorization: Bearer TOKEN` when a token is given.

Prints one JSON line: the status code's name ("OK", "UNAUTHENTICATED", ...), the details
string, the reply messages received, and the `www-authenticate` value of the trailing (and,
for diagnosis, the initial) metadata, or null. Exits 0 whatever the status: the Rust test
asserts on it. Only a broken invocation or an unexpected exception exits non-zero.

The two protobuf messages are encoded by hand, so no generated code (grpcio-tools) is
needed: HelloRequest {string name = 1}, HelloStreamRequest {string name = 1; uint32 count
= 2} and HelloReply {string message = 1}.
"""

import argparse
import json
import sys

import grpc

SERVICE = "/helloworld.Greeter/"
METHODS = ("SayHello", "SayHelloStream", "SayHelloAdmin")
TIMEOUT_SECONDS = 30


# ---- protobuf wire format, the little of it these messages need ----


def encode_varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data, position):
    result = 0
    shift = 0
    while True:
        if position >= len(data):
            raise ValueError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def string_field(number, text):
    encoded = text.encode("utf-8")
    if not encoded:
        return b""  # proto3 leaves default values out
    return encode_varint(number << 3 | 2) + encode_varint(len(encoded)) + encoded


def varint_field(number, value):
    if not value:
        return b""
    return encode_varint(number << 3 | 0) + encode_varint(value)


def hello_request(name):
    return string_field(1, name)


def hello_stream_request(name, count):
    return string_field(1, name) + varint_field(2, count)


def hello_reply_message(data):
    """The `message` field (1) of a HelloReply; unknown fields are skipped."""
    message = ""
    position = 0
    while position < len(data):
        key, position = decode_varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, position = decode_varint(data, position)
        elif wire_type == 1:
            position += 8
        elif wire_type == 2:
            length, position = decode_varint(data, position)
            value = data[position : position + length]
            if len(value) != length:
                raise ValueError("truncated length-delimited field")
            position += length
            if number == 1:
                message = value.decode("utf-8")
        elif wire_type == 5:
            position += 4
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
    return message


# ---- the call ----


def identity(data):
    return data


def header(metadata, name):
    """The value of `name` in a metadata sequence, or None."""
    for key, value in metadata or ():
        if key.lower() == name:
            return value.decode("latin-1") if isinstance(value, bytes) else value
    return None


def outcome(call, messages):
    return {
        "code": call.code().name,
        "details": call.details() or "",
        "messages": messages,
        "www_authenticate": header(call.trailing_metadata(), "www-authenticate"),
        "initial_www_authenticate": header(call.initial_metadata(), "www-authenticate"),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", help="host:port of the server")
    parser.add_argument("method", choices=METHODS)
    parser.add_argument("--token", help="the bearer token to send; none when left out")
    parser.add_argument("--name", default="world")
    parser.add_argument("--count", type=int, default=3, help="greetings to ask SayHelloStream for")
    parser.add_argument("--path", help="a unary call to this exact method path instead of the method's own")
    args = parser.parse_args()

    metadata = [("authorization", f"Bearer {args.token}")] if args.token is not None else None
    path = args.path if args.path is not None else SERVICE + args.method
    with grpc.insecure_channel(args.address) as channel:
        if args.method == "SayHelloStream":
            call = channel.unary_stream(
                path, request_serializer=identity, response_deserializer=identity
            )(hello_stream_request(args.name, args.count), metadata=metadata, timeout=TIMEOUT_SECONDS)
            messages = []
            try:
                for reply in call:
                    messages.append(hello_reply_message(reply))
            except grpc.RpcError:
                pass  # the call itself carries the status
            result = outcome(call, messages)
        else:
            method = channel.unary_unary(path, request_serializer=identity, response_deserializer=identity)
            try:
                reply, call = method.with_call(
                    hello_request(args.name), metadata=metadata, timeout=TIMEOUT_SECONDS
                )
                result = outcome(call, [hello_reply_message(reply)])
            except grpc.RpcError as error:
                # A failed unary call's error is also its grpc.Call.
                result = outcome(error, [])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
