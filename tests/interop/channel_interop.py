#!/usr/bin/env python3
"""An independent implementation of the grid channel protocol (DESIGN.md section 3).

Written from the design text and the committed test vectors only, with the Python
`cryptography` package, to prove that the Rust implementation is what the spec says
and that channels interoperate in both directions.

    channel_interop.py check VECTORS.json   recompute every vector and its rejections
    channel_interop.py write OUT.json       write a fresh channel for Rust to read
    channel_interop.py read IN.json         open a channel Rust wrote; print its plaintexts
"""

import base64
import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def u64be(n):
    return n.to_bytes(8, "big")


class Channel:
    def __init__(self, root_hex, side_key):
        self.root_hex = root_hex
        self.root = bytes.fromhex(root_hex)
        self.side_key = side_key.encode()
        self.key = HKDF(algorithm=hashes.SHA256(), length=32, salt=self.root, info=b"grid-channel/key").derive(
            self.side_key
        )

    def address(self, n):
        return hashlib.sha256(b"grid-channel/addr" + self.root + u64be(n) + self.side_key).hexdigest()

    def open(self, n, envelope_text):
        """Returns (plaintext, None) or (None, reason), checking in the order of section 3."""
        try:
            env = json.loads(envelope_text)
        except ValueError:
            return None, "Json"
        if set(env) != {"v", "root", "index", "publicKey", "nonce", "ciphertext", "signature"}:
            return None, "Json"
        if env["v"] != 1:
            return None, "Version"
        for field, length in (("root", 64), ("publicKey", 64), ("nonce", 24), ("signature", 128)):
            value = env[field]
            if not isinstance(value, str) or len(value) != length or value != value.lower():
                return None, "Field"
        pk = bytes.fromhex(env["publicKey"])
        if env["root"] != self.root_hex:
            return None, "WrongChannel"
        if env["index"] != n:
            return None, "WrongIndex"
        if hashlib.sha256(b"grid-channel/root" + pk).digest() != self.root:
            return None, "RootMismatch"
        nonce = bytes.fromhex(env["nonce"])
        ciphertext = base64.b64decode(env["ciphertext"], validate=True)
        message = b"grid-channel/sig" + self.root + u64be(n) + nonce + ciphertext
        try:
            Ed25519PublicKey.from_public_bytes(pk).verify(bytes.fromhex(env["signature"]), message)
        except InvalidSignature:
            return None, "BadSignature"
        try:
            return ChaCha20Poly1305(self.key).decrypt(nonce, ciphertext, self.root + u64be(n)), None
        except InvalidTag:
            return None, "Decrypt"


class Writer:
    def __init__(self, seed, side_key):
        self.signing = Ed25519PrivateKey.from_private_bytes(seed)
        self.pk = self.signing.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        root = hashlib.sha256(b"grid-channel/root" + self.pk).hexdigest()
        self.channel = Channel(root, side_key)

    def seal(self, n, plaintext, nonce):
        c = self.channel
        ciphertext = ChaCha20Poly1305(c.key).encrypt(nonce, plaintext, c.root + u64be(n))
        signature = self.signing.sign(b"grid-channel/sig" + c.root + u64be(n) + nonce + ciphertext)
        return (
            '{"v":1,"root":"%s","index":%d,"publicKey":"%s","nonce":"%s","ciphertext":"%s","signature":"%s"}'
            % (c.root_hex, n, self.pk.hex(), nonce.hex(), base64.b64encode(ciphertext).decode(), signature.hex())
        )


def check(path):
    vectors = json.load(open(path))
    failures = []
    for ch in vectors["channels"]:
        writer = Writer(bytes.fromhex(ch["seed"]), ch["sideKey"])
        if writer.pk.hex() != ch["publicKey"] or writer.channel.root_hex != ch["root"]:
            failures.append("%s: public key or root differs" % ch["name"])
        if writer.channel.key.hex() != ch["messageKey"]:
            failures.append("%s: message key differs" % ch["name"])
        for m in ch["messages"]:
            n = m["index"]
            if writer.channel.address(n) != m["address"]:
                failures.append("%s #%d: address differs" % (ch["name"], n))
            sealed = writer.seal(n, m["plaintext"].encode(), bytes.fromhex(m["nonce"]))
            if sealed != m["envelope"]:
                failures.append("%s #%d: envelope differs" % (ch["name"], n))
            plaintext, reason = Channel(ch["root"], ch["sideKey"]).open(n, m["envelope"])
            if plaintext != m["plaintext"].encode():
                failures.append("%s #%d: does not open (%s)" % (ch["name"], n, reason))
    first = vectors["channels"][0]
    reader = Channel(first["root"], first["sideKey"])
    for case in vectors["invalid"]:
        plaintext, reason = reader.open(case["index"], case["envelope"])
        if plaintext is not None:
            failures.append("invalid vector accepted: %s" % case["description"])
    print(json.dumps({"checked": sum(len(c["messages"]) for c in vectors["channels"]), "failures": failures}))
    return 1 if failures else 0


def write(path):
    side_key = os.urandom(32).hex()
    writer = Writer(os.urandom(32), side_key)
    plaintexts = [
        '{"command":"hello"}',
        '{"command":"usage","startTime":1795860000000,"endTime":1795860900000,"usage":3.5}',
        '{"command":"goodbye"}',
    ]
    messages = [
        {"index": n, "address": writer.channel.address(n), "envelope": writer.seal(n, p.encode(), os.urandom(12)),
         "plaintext": p}
        for n, p in enumerate(plaintexts)
    ]
    json.dump({"root": writer.channel.root_hex, "sideKey": side_key, "messages": messages}, open(path, "w"))
    return 0


def read(path):
    channel_file = json.load(open(path))
    reader = Channel(channel_file["root"], channel_file["sideKey"])
    by_address = {m["address"]: m["envelope"] for m in channel_file["messages"]}
    out, n = [], 0
    while reader.address(n) in by_address:
        plaintext, reason = reader.open(n, by_address[reader.address(n)])
        out.append(plaintext.decode() if plaintext is not None else {"rejected": reason})
        n += 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    command, path = sys.argv[1], sys.argv[2]
    sys.exit({"check": check, "write": write, "read": read}[command](path))
