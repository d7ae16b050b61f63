"""Tagged-JSON value codec (being split into modules: see `_decode`)."""

from ._decode import (
    JSON,
    MAX_JSON_DEPTH,
    DecodeError,
    Decoder,
    Encoder,
    UnencodableValue,
    allow_class_reference,
)

__all__ = [
    "JSON",
    "MAX_JSON_DEPTH",
    "DecodeError",
    "Decoder",
    "Encoder",
    "UnencodableValue",
    "allow_class_reference",
]
