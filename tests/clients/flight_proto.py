"""Just enough protobuf to build Flight SQL commands and actions by hand and read their
results, for clients (pyarrow.flight) that have no wrapper for them."""
from __future__ import annotations

SQL_PACKAGE = "type.googleapis.com/arrow.flight.protocol.sql."


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int32 values travel as 10-byte two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_varint(buf: bytes, i: int) -> tuple[int, int]:
    """The varint at `buf[i]` and the index after it."""
    value, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def bytes_field(number: int, data: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(data)) + data


def string_field(number: int, value: str) -> bytes:
    return bytes_field(number, value.encode())


def int_field(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def pack_any(name: str, body: bytes) -> bytes:
    """`google.protobuf.Any{type_url = 1, value = 2}` around a Flight SQL message."""
    return string_field(1, SQL_PACKAGE + name) + bytes_field(2, body)


def bytes_fields(buf: bytes) -> dict[int, bytes]:
    """The length-delimited fields of a message (all the results read here have only those)."""
    fields, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        assert key & 7 == 2, f"field {key >> 3} is not length-delimited"
        n, i = read_varint(buf, i)
        fields[key >> 3] = buf[i:i + n]
        i += n
    return fields
