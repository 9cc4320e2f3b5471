#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz harnesses: tests/fuzz/corpus/<harness>/<name>.

Small valid and near-valid inputs (a few hundred bytes at most), so that the fuzzer starts from
files that get past the first checks, and the replay test of `make test` covers every kind.
Deterministic (gzip mtime 0): running it again rewrites the same bytes.

    python3 tests/fuzz/make_corpus.py          # from anywhere
"""
import gzip
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def gz(b):
    return gzip.compress(b, compresslevel=9, mtime=0)


def idx(type_code, dims, data):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


def idx_files():
    f = {}
    f["u8_1d_labels"] = idx(8, [12], bytes([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8]))
    f["u8_1d_label_out_of_range"] = idx(8, [3], bytes([1, 10, 2]))
    f["u8_2d"] = idx(8, [3, 5], bytes(range(15)))
    f["u8_3d_images"] = idx(8, [2, 4, 4], bytes((i * 37) & 255 for i in range(32)))
    f["u8_4d"] = idx(8, [1, 2, 3, 2], bytes(range(12)))
    f["i32_1d"] = idx(0x0C, [3], struct.pack(">3i", 1, -2, 3))
    f["i32_2d"] = idx(0x0C, [2, 2], struct.pack(">4i", 7, 8, 9, 10))
    f["f32_1d"] = idx(0x0D, [2], struct.pack(">2f", 0.5, -1.25))
    f["f32_3d"] = idx(0x0D, [1, 2, 2], struct.pack(">4f", 1, 2, 3, 4))
    f["f64_1d"] = idx(0x0E, [1], struct.pack(">d", 3.5))
    f["truncated_data"] = idx(8, [2, 4, 4], bytes(20))
    f["trailing_bytes"] = idx(8, [4], bytes(6))
    f["zero_dim"] = idx(8, [0, 3], b"")
    f["five_dims"] = idx(8, [1, 1, 1, 1, 1], b"\x07")
    f["huge_dims"] = idx(8, [0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], b"\x00" * 8)
    f["header_cut"] = idx(8, [2, 3], b"")[:9]
    f["empty"] = b""
    return f


def write(harness, files):
    d = os.path.join(CORPUS, harness)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, b in sorted(files.items()):
        with open(os.path.join(d, name), "wb") as fh:
            fh.write(b)


def idx_corpus():
    raw = idx_files()
    gzipped = {k + ".gz": gz(v) for k, v in raw.items() if v}
    two = gz(raw["u8_2d"][:10]) + gz(raw["u8_2d"][10:])  # concatenated members, as cat makes
    gzipped["u8_2d_two_members.gz"] = two
    gzipped["u8_3d_images_truncated.gz"] = gz(raw["u8_3d_images"])[:-6]
    gzipped["u8_2d_trailing_garbage.gz"] = gz(raw["u8_2d"]) + b"junk"
    # Stored (uncompressed) deflate blocks: the fuzzer can then edit the IDX bytes inside.
    gzipped["u8_3d_images_stored.gz"] = gzip.compress(raw["u8_3d_images"], compresslevel=0, mtime=0)
    gzipped["zeros_4k.gz"] = gz(idx(8, [4096], bytes(4096)))  # a high ratio
    write("idx", {**raw, **gzipped})
    write("idx_gz", gzipped)


def safetensors(header, data=b"", pad=True):
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def st(name_dtype_shape, meta=None):
    """A valid file: [(name, dtype, shape, element bytes)]."""
    header, data = {}, b""
    for name, dtype, shape, elem in name_dtype_shape:
        n = 1
        for d in shape:
            n *= d
        b = bytes((len(data) + i) & 255 for i in range(n * elem))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    if meta is not None:
        header["__metadata__"] = meta
    return safetensors(header, data)


def safetensors_corpus():
    f = {}
    f["f32_2x3"] = st([("w", "F32", [2, 3], 4)])
    f["f64_scalar"] = st([("s", "F64", [], 8)])
    f["i32_u8_two"] = st([("a", "I32", [4], 4), ("b", "U8", [2, 2], 1)])
    f["four_dtypes_meta"] = st(
        [("model.0.weight", "F32", [3, 2], 4), ("model.0.bias", "F32", [3], 4),
         ("optim.step", "I32", [1], 4), ("u", "U8", [1, 1, 2, 1], 1), ("d", "F64", [1], 8)],
        {"format": "tapegrad-checkpoint-1", "epoch": "3", "arch": "mlp"})
    f["empty_tensor"] = st([("e", "F32", [0, 5], 4)])
    f["empty_header"] = safetensors({})
    f["metadata_only"] = safetensors({"__metadata__": {"k": "v", "unicode": "\u00e9\u4e2d"}})
    f["f16_bf16"] = st([("h", "F16", [2], 2), ("b", "BF16", [2], 2)])
    f["i64_bool"] = st([("i", "I64", [2], 8), ("m", "BOOL", [3], 1)])
    f["five_dims"] = st([("x", "U8", [1, 1, 1, 1, 2], 1)])
    f["unpadded"] = safetensors({"x": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}},
                                b"\x01\x02", pad=False)
    f["overlap"] = safetensors({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                                "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}, bytes(6))
    f["offsets_out_of_range"] = safetensors(
        {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(8))
    f["shape_mismatch"] = safetensors(
        {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8))
    f["negative_dim"] = safetensors(
        {"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4))
    f["huge_dims_zero"] = safetensors(
        {"a": {"dtype": "F32", "shape": [0, 4611686018427387904], "data_offsets": [0, 0]}})
    f["extra_key"] = safetensors(
        {"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "x": 1}}, b"\x00")
    f["bad_metadata"] = safetensors({"__metadata__": {"epoch": 3}})
    f["header_len_too_big"] = struct.pack("<Q", 1 << 40) + b"{}"
    f["short"] = b"\x02\x00\x00"
    f["not_json"] = struct.pack("<Q", 4) + b"{x:1"
    f["dup_key"] = struct.pack("<Q", 16) + b'{"a":{},"a":{}} '
    write("safetensors", f)


def json_corpus():
    f = {}
    f["null"] = b"null"
    f["true"] = b"true"
    f["false"] = b" false \n"
    f["int"] = b"42"
    f["negative"] = b"-17"
    f["int64_max"] = b"9223372036854775807"
    f["int64_min"] = b"-9223372036854775808"
    f["uint64_max"] = b"18446744073709551615"
    f["big_int"] = b"123456789012345678901234567890"
    f["fraction"] = b"3.14159"
    f["exponent"] = b"-1.5e-300"
    f["overflow"] = b"1e400"
    f["minus_zero"] = b"-0.0"
    f["string"] = b'"hello"'
    f["escapes"] = b'"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t"'
    f["unicode_escape"] = b'"\\u00e9\\u4e2d\\ud83d\\ude00"'
    f["lone_surrogate"] = b'"\\ud800"'
    f["utf8"] = '"\u00e9\u4e2d\U0001f600"'.encode()
    f["bad_utf8"] = b'"\xc3\x28"'
    f["empty_array"] = b"[]"
    f["empty_object"] = b"{}"
    f["array"] = b'[1, -2.5, "x", true, false, null, [], {}]'
    f["object"] = b'{"epochs": 3, "lr": 0.1, "tags": ["a", "b"], "nested": {"k": [1, {"z": null}]}}'
    f["dup_key"] = b'{"a": 1, "a": 2}'
    f["deep_ok"] = b"[" * 100 + b"]" * 100
    f["deep_too"] = b"[" * 200 + b"]" * 200
    f["trailing_comma"] = b"[1, 2,]"
    f["comment"] = b"[1] // c"
    f["leading_zero"] = b"012"
    f["nan"] = b"NaN"
    f["control_char"] = b'"a\x01b"'
    f["nul_inside"] = b'"a\x00b"'
    f["two_values"] = b"1 2"
    f["bom"] = b"\xef\xbb\xbf{}"
    f["safetensors_header"] = json.dumps(
        {"w": {"dtype": "F32", "shape": [50, 784], "data_offsets": [0, 156800]},
         "__metadata__": {"format": "tapegrad-checkpoint-1"}}).encode()
    write("json", f)


if __name__ == "__main__":
    idx_corpus()
    safetensors_corpus()
    json_corpus()
    for h in sorted(os.listdir(CORPUS)):
        d = os.path.join(CORPUS, h)
        n = len(os.listdir(d))
        size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
        print(f"{h}: {n} files, {size} bytes")
