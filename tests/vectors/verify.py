#!/usr/bin/env python3
"""Independent verifier for the suyuan signing-format (version 1) test vectors.

Written from the project's DESIGN.md ("Signing format (version 1)") and RFC 8785 / RFC 8032,
not from the Rust code. Uses only the standard library and the `cryptography`
package. For every *.json next to this script it rebuilds the signed message,
compares it with message_hex and id, checks the key and signature strictly, and
compares the outcome with the vector's "valid".

    message = "suyuan/v1/" + kind + "\\n" + body
    body    = JCS (RFC 8785) of the statement without "sig"   (kinds batch, event, key)
            = canonical Digital Link path                      (kind label)
    id      = lowercase hex SHA-256(message)
    sig     = base64url-no-pad(Ed25519(seed, message))

Usage: python3 tests/vectors/verify.py [vector.json ...]
       python3 tests/vectors/verify.py --bundle BUNDLE.json   (an evidence bundle)
       python3 tests/vectors/verify.py --tiles DIR            (a log saved as C2SP tlog-tiles)
Exit status 0 only if at least one vector was checked and every outcome matched.
"""

import base64
import binascii
import hashlib
import json
import re
import sys
from pathlib import Path

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
except ImportError:  # pragma: no cover
    sys.exit(
        "verify.py needs the `cryptography` package for Ed25519: "
        "pip install cryptography  (or: apt-get install python3-cryptography)"
    )

KINDS = ("batch", "event", "key", "label")
MAX_SAFE = 2**53 - 1
# serde_json (the Rust reader) refuses more than 127 nested arrays/objects. DESIGN.md
# sets no limit; we mirror the Rust one so the two readers accept the same texts.
MAX_DEPTH = 127


class Refused(Exception):
    """The statement, key or signature is refused (the vector is invalid)."""


# ---------------------------------------------------------------------------
# Strict JSON reading (DESIGN.md: no floats, no null, integers within ±(2^53−1),
# no duplicate keys at any depth).


class _Bad:
    """Marks a value the JSON reader saw but a statement may not contain."""

    def __init__(self, why):
        self.why = why


def _pairs(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise Refused(f'duplicate key "{k}"')
        obj[k] = v
    return obj


def _int(text):
    if text == "-0":
        # JCS would print -0 as 0, but the Rust reader (serde_json) reads "-0" as the
        # float -0.0 and refuses it; follow it so the two agree (see README).
        return _Bad('"-0" is not an integer spelling statements may use')
    return int(text)


def load_json(text):
    """json.loads with duplicate keys refused and floats/constants marked (refused by jcs())."""
    return json.loads(
        text,
        object_pairs_hook=_pairs,
        parse_float=lambda s: _Bad(f"float {s}"),
        parse_constant=lambda s: _Bad(f"non-JSON constant {s}"),
        parse_int=_int,
    )


# ---------------------------------------------------------------------------
# JCS, RFC 8785, restricted to the statement value types.

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _jcs_string(s):
    try:
        s.encode("utf-8")  # refuses lone surrogates, which are not Unicode scalar values
    except UnicodeEncodeError:
        raise Refused("string contains a lone surrogate") from None
    out = ['"']
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)  # everything else literal, including U+007F and U+2028
    out.append('"')
    return "".join(out)


def _utf16_key(k):
    # Big-endian UTF-16 bytes compare exactly like sequences of UTF-16 code units.
    return k.encode("utf-16-be")


def jcs(value, depth=0):
    if isinstance(value, _Bad):
        raise Refused(value.why)
    if value is None:
        raise Refused("null is not allowed")
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if not -MAX_SAFE <= value <= MAX_SAFE:
            raise Refused(f"integer {value} outside ±(2^53−1)")
        return str(value)
    if isinstance(value, float):
        raise Refused(f"float {value!r}")
    if isinstance(value, str):
        return _jcs_string(value)
    if isinstance(value, (list, dict)) and depth >= MAX_DEPTH:
        raise Refused("nested too deeply")
    if isinstance(value, list):
        return "[" + ",".join(jcs(v, depth + 1) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=_utf16_key)
        return "{" + ",".join(_jcs_string(k) + ":" + jcs(value[k], depth + 1) for k in keys) + "}"
    raise Refused(f"unexpected value {value!r}")


# ---------------------------------------------------------------------------
# Digital Link label path: rebuilt canonically from whatever was delivered.

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _dl_part(text):
    raw = bytearray()
    data = text.encode("utf-8")
    i = 0
    while i < len(data):
        if data[i] == 0x25:  # '%'
            pair = data[i + 1 : i + 3]
            if not re.fullmatch(rb"[0-9A-Fa-f]{2}", pair):
                raise Refused(f"bad percent-escape in {text!r}")
            raw.append(int(pair, 16))
            i += 3
        else:
            raw.append(data[i])
            i += 1
    if not raw:
        raise Refused("empty lot or serial")
    return "".join(chr(b) if b in _UNRESERVED else "%%%02X" % b for b in raw)


def canonical_label(path):
    if not isinstance(path, str):
        raise Refused("label statement must be a string")
    seg = path.split("/")
    if len(seg) == 2 and seg[0] == "00" and re.fullmatch(r"[0-9]{18}", seg[1], re.ASCII):
        return path
    if (
        len(seg) == 6
        and seg[0] == "01"
        and re.fullmatch(r"[0-9]{14}", seg[1], re.ASCII)
        and seg[2] == "10"
        and seg[4] == "21"
    ):
        return f"01/{seg[1]}/10/{_dl_part(seg[3])}/21/{_dl_part(seg[5])}"
    raise Refused(f"not a canonical-able Digital Link path: {path!r}")


# ---------------------------------------------------------------------------
# base64url without padding, canonical only.

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_decode(text, nbytes, what):
    if not isinstance(text, str) or not _B64URL.fullmatch(text):
        raise Refused(f"{what}: not base64url without padding")
    if len(text) != (nbytes * 4 + 2) // 3:
        raise Refused(f"{what}: {len(text)} characters, {nbytes} bytes need {(nbytes * 4 + 2) // 3}")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(raw) != text:  # non-zero padding bits in the last character
        raise Refused(f"{what}: non-canonical base64url (padding bits set)")
    return raw


def b64url_encode(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


# ---------------------------------------------------------------------------
# Ed25519 strictness the `cryptography` package (OpenSSL) does not provide by itself.
# OpenSSL checks S < L and compares the encoding of R, but accepts small-order public
# keys and small-order R. The Rust side uses ed25519-dalek's verify_strict, which
# refuses both, so we do too.

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

# Encodings of the points of order 1, 2, 4 and 8, canonical and not (y >= p), with the
# sign bit ignored: the blocklist of libsodium's ge25519_has_small_order()
# (src/libsodium/crypto_core/ed25519/ref10/ed25519_ref10.c); see also Chalkias et al.,
# "Taming the many EdDSAs" (2020), table 6. Only used as a self-check of
# is_small_order() below, which decides by arithmetic.
SMALL_ORDER_BLOCKLIST = [
    bytes.fromhex(h)
    for h in (
        "0000000000000000000000000000000000000000000000000000000000000000",  # y = 0, order 4
        "0100000000000000000000000000000000000000000000000000000000000000",  # y = 1, order 1
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p-1, order 2
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p (= 0)
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p+1 (= 1)
    )
]


def _decompress(b, canonical):
    """Point (x, y) from 32 bytes, or None. canonical=True follows RFC 8032 5.1.3 (y < p,
    no x = 0 with sign 1); False reduces y mod p like ed25519-dalek does."""
    n = int.from_bytes(b, "little")
    sign, y = n >> 255, n & ((1 << 255) - 1)
    if y >= P:
        if canonical:
            return None
        y -= P
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if (v * x * x - u) % P:
        x = x * SQRT_M1 % P
        if (v * x * x - u) % P:
            return None
    if x == 0 and sign and canonical:
        return None
    if x & 1 != sign:
        x = P - x if x else 0
    return (x, y)


def _add(p1, p2):
    (x1, y1), (x2, y2) = p1, p2
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P
    return (x3, y3)


def is_small_order(b):
    """True if b decodes (leniently) to a point Q with [8]Q = identity."""
    q = _decompress(b, canonical=False)
    if q is None:
        return False
    for _ in range(3):
        q = _add(q, q)
    return q == (0, 1)


def _self_check():
    for enc in SMALL_ORDER_BLOCKLIST:
        for sign in (0, 0x80):
            b = enc[:31] + bytes([enc[31] | sign])
            if _decompress(b, canonical=False) is not None:
                assert is_small_order(b), b.hex()
    base = bytes.fromhex("58" + "66" * 31)
    assert _decompress(base, canonical=True) is not None and not is_small_order(base)


def parse_public_key(text):
    raw = b64url_decode(text, 32, "public key")
    if _decompress(raw, canonical=True) is None:
        raise Refused("public key is not a canonical encoding of a curve point")
    if is_small_order(raw):
        raise Refused("public key has small order")
    return raw


def verify_strict(public, message, sig_text):
    sig = b64url_decode(sig_text, 64, "sig")
    r, s = sig[:32], int.from_bytes(sig[32:], "little")
    if s >= L:
        raise Refused("S >= L (non-canonical signature scalar)")
    if is_small_order(r):
        raise Refused("R has small order")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(sig, message)
    except InvalidSignature:
        raise Refused("signature does not verify") from None


# ---------------------------------------------------------------------------
# One vector.


class Broken(Exception):
    """The vector contradicts this verifier on something independent of validity."""


def message_of(vector):
    kind = vector.get("kind")
    if kind not in KINDS:
        raise Refused(f"unknown kind {kind!r}")
    if kind == "label":
        body = canonical_label(vector.get("statement"))
    else:
        has_obj, has_text = "statement" in vector, "statement_text" in vector
        if has_obj == has_text:
            raise Broken("exactly one of statement and statement_text must be present")
        if has_obj:
            statement = vector["statement"]
        else:
            try:
                statement = load_json(vector["statement_text"])
            except (ValueError, RecursionError) as e:  # Refused (duplicate key) passes through
                raise Refused(f"statement_text is not JSON: {e}") from None
        if not isinstance(statement, dict):
            raise Refused("statement is not an object")
        if "sig" in statement:
            raise Broken('statement must be given without "sig"')
        body = jcs(statement)
    return (f"suyuan/v1/{kind}\n" + body).encode("utf-8")


def check(vector):
    """Returns None if accepted, or the reason it is refused. Raises Broken on contradictions."""
    try:
        message = message_of(vector)
    except Refused as e:
        if vector.get("message_hex") or vector.get("id"):
            raise Broken(f"refused ({e}) but message_hex/id are not empty") from None
        return str(e)
    if message.hex() != vector.get("message_hex"):
        raise Broken(f"message differs: computed {message.hex()}")
    if hashlib.sha256(message).hexdigest() != vector.get("id"):
        raise Broken(f"id differs: computed {hashlib.sha256(message).hexdigest()}")
    try:
        public = parse_public_key(vector.get("public_key"))
        verify_strict(public, message, vector.get("sig"))
    except Refused as e:
        return str(e)

    # Accepted: the seed must give this key and (Ed25519 is deterministic) this sig.
    try:
        seed = b64url_decode(vector.get("secret_key"), 32, "secret_key")
    except Refused as e:
        raise Broken(str(e)) from None
    private = Ed25519PrivateKey.from_private_bytes(seed)
    if private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) != public:
        raise Broken("secret_key does not match public_key")
    if b64url_encode(private.sign(message)) != vector["sig"]:
        raise Broken("signing the message with secret_key gives another sig")
    statement = vector.get("statement")
    if isinstance(statement, dict) and "key" in statement:
        key_id = hashlib.sha256(public).hexdigest()[:16]
        if statement["key"] != key_id:
            raise Broken(f'"key" is {statement["key"]!r}, key id of public_key is {key_id}')
    return None


# ---------------------------------------------------------------------------
# Evidence bundles (suyuan export): the log's checkpoint signature and the
# inclusion proof of every statement, written from C2SP signed-note,
# C2SP tlog-checkpoint and RFC 9162 §2.1.3.2, not from the Rust code. Each
# statement's id and signature are checked too (root keys from the bundle's
# parties, station keys from the key statements in it); key validity windows
# and custody rules are left to `suyuan verify`.


def _std_b64(text, what):
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"{what}: not standard base64") from None


def parse_verifier_key(text):
    """name+hex(key id)+base64(0x01 || 32-byte Ed25519 key) -> (name, key id, key)."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise Refused("verifier key: expected name+keyid+key")
    name, id_hex, b64 = parts
    raw = _std_b64(b64, "verifier key")
    if len(raw) != 33 or raw[0] != 1:
        raise Refused("verifier key: not 0x01 followed by 32 bytes")
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + raw[1:]).digest()[:4]
    if key_id.hex() != id_hex:
        raise Refused("verifier key: key id does not match name and key")
    return name, key_id, raw[1:]


def open_checkpoint(note, name, key_id, key):
    """Verifies the note's signature by the key; returns (origin, size, root)."""
    split = note.rfind("\n\n")
    if split < 0:
        raise Refused("checkpoint: no blank line before the signatures")
    text, sigs = note[: split + 1], note[split + 2 :]
    verified = False
    for line in sigs.split("\n")[:-1]:
        if not line.startswith("\u2014 "):
            raise Refused("checkpoint: bad signature line")
        sig_name, _, b64 = line[2:].partition(" ")
        raw = _std_b64(b64, "checkpoint signature")
        if sig_name != name or raw[:4] != key_id:
            continue
        if len(raw) != 68 or int.from_bytes(raw[36:], "little") >= L:
            raise Refused("checkpoint: malformed Ed25519 signature")
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(raw[4:], text.encode())
        except InvalidSignature:
            raise Refused("checkpoint: signature does not verify") from None
        verified = True
    if not verified:
        raise Refused(f"checkpoint: no signature by {name}")
    lines = text.split("\n")
    if len(lines) < 4 or lines[0] != name or not re.fullmatch(r"0|[1-9][0-9]*", lines[1]):
        raise Refused("checkpoint: body is not origin / size / root")
    root = _std_b64(lines[2], "checkpoint root")
    if len(root) != 32:
        raise Refused("checkpoint: root is not 32 bytes")
    return lines[0], int(lines[1]), root


def _node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def check_bundle(path):
    bundle = load_json(Path(path).read_text(encoding="utf-8"))
    if not isinstance(bundle, dict) or bundle.get("format") != "suyuan-evidence/v1":
        raise Refused("not a suyuan-evidence/v1 bundle")
    name, key_id, key = parse_verifier_key(bundle["log"]["verifier"])
    _, size, root = open_checkpoint(bundle["log"]["checkpoint"], name, key_id, key)
    keys = {}
    for party in bundle["parties"]:
        for k in party["root_keys"]:
            keys[k["key_id"]] = parse_public_key(k["public_key"])
    for st in bundle["statements"]:
        seq, text = st["seq"], st["json"]
        leaf = hashlib.sha256(b"\x00" + text.encode("utf-8")).digest()
        proof = [bytes.fromhex(h) for h in st["proof"]]
        if any(len(h) != 32 for h in proof):
            raise Refused(f"leaf {seq}: proof hash is not 32 bytes")
        if not verify_inclusion(leaf, seq, size, proof, root):
            raise Refused(f"leaf {seq}: inclusion proof does not lead to the signed root of size {size}")
        statement = load_json(text)
        sig = statement.pop("sig")
        message = (f"suyuan/v1/{st['kind']}\n" + jcs(statement)).encode("utf-8")
        if hashlib.sha256(message).hexdigest() != st["id"]:
            raise Refused(f"leaf {seq}: id is not the hash of the message")
        if statement["key"] not in keys:
            raise Refused(f"leaf {seq}: key {statement['key']} is not a root key or certified in the bundle")
        verify_strict(keys[statement["key"]], message, sig)
        if st["kind"] == "key" and statement.get("action") == "certify":
            subject = parse_public_key(statement["subject"])
            keys[hashlib.sha256(subject).hexdigest()[:16]] = subject
    print(f"bundle ok: batch {bundle['batch']}, {len(bundle['statements'])} statements "
          f"included in the tree of size {size} signed by {name}")
    return 0


def _tile_index(n):
    """1234067 -> x001/x234/067 (C2SP tlog-tiles)."""
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def _mth(hashes):
    """RFC 6962 Merkle tree hash of leaf hashes (split at the largest power of two below n)."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return _node(_mth(hashes[:k]), _mth(hashes[k:]))


def check_tiles(directory):
    """A log saved as C2SP tlog-tiles (checkpoint, key, tile/...): every entry's leaf
    hash is in the level-0 tiles, every higher tile hash is the root of the 256
    hashes below it, and the leaves give the signed root."""
    d = Path(directory)
    name, key_id, key = parse_verifier_key((d / "key").read_text(encoding="utf-8"))
    _, size, root = open_checkpoint((d / "checkpoint").read_text(encoding="utf-8"), name, key_id, key)
    leaves = []
    for n in range((size + 255) // 256):
        width = min(256, size - 256 * n)
        suffix = "" if width == 256 else f".p/{width}"
        bundle = (d / "tile" / "entries" / (_tile_index(n) + suffix)).read_bytes()
        hashes = (d / "tile" / "0" / (_tile_index(n) + suffix)).read_bytes()
        if len(hashes) != 32 * width:
            raise Refused(f"level-0 tile {n}: {len(hashes)} bytes, expected {32 * width}")
        at, i = 0, 0
        while at < len(bundle):
            length = int.from_bytes(bundle[at:at + 2], "big")
            entry = bundle[at + 2:at + 2 + length]
            if len(entry) != length:
                raise Refused(f"entry bundle {n}: truncated entry {i}")
            leaf = hashlib.sha256(b"\x00" + entry).digest()
            if leaf != hashes[32 * i:32 * i + 32]:
                raise Refused(f"leaf {256 * n + i}: entry does not hash to the level-0 tile")
            leaves.append(leaf)
            at += 2 + length
            i += 1
        if i != width:
            raise Refused(f"entry bundle {n}: {i} entries, expected {width}")
    level, below, checked = 1, leaves, 0
    while len(below) >= 256:
        above = [_mth(below[256 * j:256 * j + 256]) for j in range(len(below) // 256)]
        for n in range((len(above) + 255) // 256):
            width = min(256, len(above) - 256 * n)
            suffix = "" if width == 256 else f".p/{width}"
            got = (d / "tile" / str(level) / (_tile_index(n) + suffix)).read_bytes()
            if got != b"".join(above[256 * n:256 * n + width]):
                raise Refused(f"tile {level}/{_tile_index(n)}{suffix}: hashes are not the roots below")
            checked += 1
        level, below = level + 1, above
    if size == 0 or _mth(leaves) != root:
        raise Refused(f"the entries do not give the signed root of size {size}")
    print(f"tiles ok: {size} entries, {checked} higher tiles, root signed by {name}")
    return 0


def main(argv):
    _self_check()
    if len(argv) == 3 and argv[1] == "--tiles":
        try:
            return check_tiles(argv[2])
        except (Refused, ValueError, OSError) as e:
            print(f"FAIL tiles {argv[2]}: {e}")
            return 1
    if len(argv) == 3 and argv[1] == "--bundle":
        try:
            return check_bundle(argv[2])
        except (Refused, ValueError, KeyError, TypeError, binascii.Error) as e:
            print(f"FAIL bundle {argv[2]}: {e}")
            return 1
    here = Path(__file__).resolve().parent
    files = [Path(a) for a in argv[1:]] or sorted(here.glob("*.json"))
    passed = failed = 0
    for path in files:
        name = path.stem
        try:
            vector = load_json(path.read_text(encoding="utf-8"))
            if not isinstance(vector, dict) or not isinstance(vector.get("valid"), bool):
                raise Broken('not a vector object with a boolean "valid"')
            if vector.get("name") != name:
                raise Broken(f'"name" is {vector.get("name")!r}, file is {name}')
            refused = check(vector)
            if refused is None and not vector["valid"]:
                raise Broken(f"accepted, but the vector is invalid ({vector.get('error', 'no reason given')})")
            if refused is not None and vector["valid"]:
                raise Broken(f"refused ({refused}), but the vector is valid")
        except (Broken, Refused, ValueError, binascii.Error) as e:
            print(f"FAIL {name}: {e}")
            failed += 1
            continue
        print(f"ok   {name}" + (f"  (refused: {refused})" if refused else ""))
        passed += 1
    print(f"{passed} passed, {failed} failed")
    if not files:
        print(f"no vectors found in {here}", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
