#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses (t/fuzz/corpus/<name>/) and their
dictionaries (t/fuzz/<name>.dict): valid tokens, headers and envelopes made with the harnesses'
test keys, and the edge cases of the unit tests (t/unit/cases/validate.tsv, the cookie and
Accept cases of t/unit/test_cookie.c and test_export.c). Each input's layout is the one its
harness documents (parts split at NUL bytes, a leading mode byte where the harness has one).
Run from anywhere; rewrites the corpora it writes. Needs python3-cryptography (the Google
keys and the AES-GCM envelopes)."""
import base64, hashlib, hmac, json, os, re, shutil, struct, sys, uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
UNIT = os.path.join(HERE, "..", "unit")
NOW = 1700000000  # the harnesses' clock

corpora = {}


def seed(target, name, data):
    corpora.setdefault(target, {})[name] = data if isinstance(data, bytes) else data.encode()


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def js(o):
    return json.dumps(o, separators=(",", ":"))


def c_unescape(s):
    """A C string literal's body as bytes."""
    return re.sub(r'\\(x[0-9a-fA-F]{2}|.)',
                  lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "x"
                  else {"n": "\n", "r": "\r", "t": "\t", "0": "\0"}.get(m.group(1), m.group(1)),
                  s).encode("latin-1")


# ---- jwt: KEY of fuzz_jwt.c ---------------------------------------------------------------
JWT_KEY = b"fuzz-jwt-secret-0123456789abcdef-XYZ!"
SUB = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
JTI = "0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9"


def hs256(header, claims, key=JWT_KEY):
    signing = b64url(header.encode()) + "." + b64url(claims.encode())
    return signing + "." + b64url(hmac.new(key, signing.encode(), hashlib.sha256).digest())


HS = js({"alg": "HS256", "typ": "JWT"})
good = {"sub": SUB, "role": "provider", "jti": JTI, "iat": NOW, "exp": NOW + 900}
claim_sets = {
    "provider": good,
    "client-sv": dict(good, role="client", sv=3),
    "expired": dict(good, exp=NOW - 1),
    "future-iat": dict(good, iat=NOW + 3600, exp=NOW + 7200),
    "iat-string": dict(good, iat="x"),
    "sv-negative": dict(good, sv=-1),
    "role-admin": dict(good, role="admin"),
    "sub-not-uuid": dict(good, sub="42"),
    "missing-jti": {k: v for k, v in good.items() if k != "jti"},
    "exp-real": dict(good, exp=NOW + 900.5),
}
for name, c in claim_sets.items():
    seed("jwt", "token-" + name, b"\0" + hs256(HS, js(c)).encode())
    seed("jwt", "signed-" + name, b"\1" + HS.encode() + b"\0" + js(c).encode())
seed("jwt", "token-bad-signature", b"\0" + hs256(HS, js(good), b"x" * 40).encode())
seed("jwt", "token-alg-none", b"\0" + (b64url(js({"alg": "none"}).encode()) + "."
                                       + b64url(js(good).encode()) + ".").encode())
for alg in ("HS384", "RS256", "none", "hs256"):
    seed("jwt", "signed-alg-" + alg, b"\1" + js({"alg": alg}).encode() + b"\0" + js(good).encode())
seed("jwt", "token-four-parts", b"\0a.b.c.d")
seed("jwt", "signed-header-array", b"\1[]\0" + js(good).encode())
seed("jwt", "signed-claims-dup", b"\1" + HS.encode() + b'\0{"sub":"a","sub":"b"}')

# ---- google_id: CLIENT_ID of fuzz_google_id.c; a key made here ----------------------------
CLIENT_ID = "123456789012-fuzz.apps.googleusercontent.com"
gkey = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pub = gkey.public_key().public_numbers()
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz")])
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(gkey.public_key()).serial_number(1)
        .not_valid_before(datetime.datetime(2023, 1, 1))
        .not_valid_after(datetime.datetime(2033, 1, 1))
        .sign(gkey, hashes.SHA256()))
pem = cert.public_bytes(serialization.Encoding.PEM).decode()
jwk = {"kid": "g1", "kty": "RSA", "alg": "RS256", "use": "sig",
       "n": b64url(pub.n.to_bytes(256, "big")), "e": b64url(pub.e.to_bytes(3, "big"))}
jwks = js({"keys": [jwk]})
v1 = js({"g1": pem})


def rs256(header, claims):
    signing = b64url(header.encode()) + "." + b64url(claims.encode())
    sig = gkey.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing + "." + b64url(sig)


gclaims = {"iss": "https://accounts.google.com", "aud": CLIENT_ID, "sub": "110169484474386276334",
           "email": "pat.client@example.com", "email_verified": True, "name": "Pat Client",
           "picture": "https://example.com/p.png", "iat": NOW, "exp": NOW + 3600}
gvariants = {
    "valid": gclaims,
    "aud-array": dict(gclaims, aud=["other", CLIENT_ID], iss="accounts.google.com"),
    "verified-string": dict(gclaims, email_verified="true"),
    "unverified": dict(gclaims, email_verified=False),
    "nbf-future": dict(gclaims, nbf=NOW + 3600),
    "expired": dict(gclaims, exp=NOW - 3600),
    "no-email": {k: v for k, v in gclaims.items() if k != "email"},
    "wrong-iss": dict(gclaims, iss="evil.example"),
}
RH = js({"alg": "RS256", "kid": "g1", "typ": "JWT"})
for vname, c in gvariants.items():
    tok = rs256(RH, js(c)).encode()
    seed("google_id", "jwks-" + vname, b"\0" + jwks.encode() + b"\0" + tok)
    seed("google_id", "own-" + vname, b"\1\0" + js({"alg": "RS256", "kid": "fz"}).encode()
         + b"\0" + js(c).encode())
tok = rs256(RH, js(gclaims)).encode()
seed("google_id", "v1-valid", b"\0" + v1.encode() + b"\0" + tok)
seed("google_id", "v1-and-jwks-kid-unknown", b"\0" + jwks.encode() + b"\0"
     + rs256(js({"alg": "RS256", "kid": "g2"}), js(gclaims)).encode())
seed("google_id", "jwks-small-e", b"\0" + js({"keys": [dict(jwk, e="AQ")]}).encode() + b"\0" + tok)
seed("google_id", "jwks-padded-n", b"\0" + js({"keys": [dict(jwk, n=jwk["n"] + "==")]}).encode()
     + b"\0" + tok)
seed("google_id", "own-alg-hs256", b"\1\0" + js({"alg": "HS256", "kid": "fz"}).encode() + b"\0"
     + js(gclaims).encode())
seed("google_id", "own-crit", b"\1\0" + js({"alg": "RS256", "kid": "fz", "crit": ["x"]}).encode()
     + b"\0" + js(gclaims).encode())
seed("google_id", "cache-control", b"\0max-age=19845, must-revalidate, no-transform\0x.y.z")

# ---- stripe: SECRET of fuzz_stripe.c --------------------------------------------------------
SECRET = b"whsec_fuzz0123456789abcdef0123456789"


def stripe_sig(t, body):
    return hmac.new(SECRET, str(t).encode() + b"." + body, hashlib.sha256).hexdigest()


intent = {"id": "pi_3Fuzz", "object": "payment_intent", "status": "succeeded", "amount": 15000,
          "amount_received": 15000, "currency": "usd", "payment_method": "pm_card_visa",
          "metadata": {"invoice_id": SUB}, "last_payment_error": None}
events = {
    "succeeded": {"id": "evt_1", "object": "event", "type": "payment_intent.succeeded",
                  "livemode": False, "data": {"object": intent}},
    "failed": {"id": "evt_2", "type": "payment_intent.payment_failed", "livemode": True,
               "data": {"object": dict(intent, status="requires_payment_method",
                                       amount_received=0,
                                       last_payment_error={"message": "Your card was declined."},
                                       payment_method={"id": "pm_x", "object": "payment_method"})}},
    "charge": {"id": "evt_3", "type": "charge.succeeded",
               "data": {"object": {"id": "ch_1", "object": "charge"}}},
    "bad-types": {"id": "evt_4", "type": "payment_intent.succeeded",
                  "data": {"object": dict(intent, amount="15000")}},
}
for ename, ev in events.items():
    body = js(ev).encode()
    header = "t=%d,v1=%s" % (NOW, stripe_sig(NOW, body))
    seed("stripe", "signed-" + ename, b"\0" + header.encode() + b"\0" + body)
    seed("stripe", "genuine-" + ename, b"\1v0=00\0" + body)
body = js(events["succeeded"]).encode()
seed("stripe", "two-v1-spaces", ("\0t=%d, v1=%s, v1=%s, v0=ab" % (NOW, "0" * 64, stripe_sig(NOW, body)))
     .encode() + b"\0" + body)
seed("stripe", "stale", ("\0t=%d,v1=%s" % (NOW - 301, stripe_sig(NOW - 301, body))).encode()
     + b"\0" + body)
seed("stripe", "repeated-t", b"\1t=1\0" + body)
seed("stripe", "malformed", b"\0t=abc,v1\0{}")

# ---- aead: the ring of fuzz_aead.c ----------------------------------------------------------
KEYS = {"k1": bytes(range(32)),
        "k0": bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff0123456789abcdeffedcba9876543210")}
AAD = uuid.UUID(SUB).bytes + uuid.UUID(JTI).bytes  # dp_aead_message_aad(message id, sender)


def envelope(kid, plain, aad, nonce, wrap=False):
    ct = base64.b64encode(AESGCM(KEYS[kid]).encrypt(nonce, plain, aad)).decode()
    if wrap:
        ct = "\n".join(ct[i:i + 76] for i in range(0, len(ct), 76))
    return (kid + "\0" + base64.b64encode(nonce).decode() + "\0" + ct + "\0").encode() + aad


seed("aead", "message-k1", envelope("k1", "Hello, see you Tuesday at 10.".encode(), AAD, b"\1" * 12))
seed("aead", "note-k0", envelope("k0", "Session note: é ü 😀".encode(), AAD, b"\2" * 12))
seed("aead", "empty-plain", envelope("k1", b"", AAD, b"\3" * 12))
seed("aead", "no-aad", envelope("k1", b"no associated data", b"", b"\4" * 12))
seed("aead", "wrapped-76", envelope("k0", b"x" * 200, AAD, b"\5" * 12, wrap=True))
seed("aead", "nul-in-plain", envelope("k1", b"a\0b", AAD, b"\6" * 12))
seed("aead", "unknown-key", b"k9\0AAAAAAAAAAAAAAAA\0AAAAAAAAAAAAAAAAAAAAAA==\0")
seed("aead", "short-nonce", b"k1\0AAAA\0AAAAAAAAAAAAAAAAAAAAAA==\0")

# ---- crypto: flags byte (1 url, 2 nopad, 4 breaks), then the text --------------------------
for i, (flags, text) in enumerate([
        (0, "aGVsbG8gd29ybGQ="), (2, "aGVsbG8gd29ybGQ"), (1, "-_-_AAAA"), (3, "-_8"),
        (4, base64.encodebytes(bytes(range(120))).decode().replace("\n", "\r\n")),
        (0, "aGVsbG8=="), (0, "aGVsbG9="), (1, "+_AA"), (0, "A"), (0, "===="),
        (0, "000102030405060708090a0b0c0d0e0f"), (0, "DEADbeef"), (0, "0g"), (0, "abc")]):
    seed("crypto", "case-%02d" % i, bytes([flags]) + text.encode())

# ---- cookie and accept: the unit tests' cases ---------------------------------------------
src = open(os.path.join(UNIT, "test_cookie.c")).read()
for i, (h, n) in enumerate(re.findall(r'\{"((?:[^"\\]|\\.)*)",\s*"((?:[^"\\]|\\.)*)",', src)):
    seed("cookie", "unit-%02d" % i, c_unescape(h) + b"\0" + c_unescape(n))
seed("cookie", "quoted", b'dp_csrf="c 1" ; dp_session = "s.2" \0dp_session')
src = open(os.path.join(UNIT, "test_export.c")).read()
for i, (a, t) in enumerate(re.findall(r'dp_accept_quality\("((?:[^"\\]|\\.)*)",\s*"([^"]*)"\)',
                                      src)):
    seed("accept", "unit-%02d" % i, c_unescape(a) + b"\0" + c_unescape(t))

# ---- validate: the inputs of t/unit/cases/validate.tsv -------------------------------------
def expand(s):
    if s == "<empty>":
        return b""
    s = re.sub(r"<(\d+)\*([^>]+)>", lambda m: m.group(2) * int(m.group(1)), s)
    parts = re.split(r"<x([0-9a-fA-F]{2})>", s)  # text, byte, text, byte, ...
    return b"".join(bytes([int(x, 16)]) if i % 2 else x.encode() for i, x in enumerate(parts))


seen = set()
for line in open(os.path.join(UNIT, "cases", "validate.tsv"), encoding="utf-8"):
    f = line.rstrip("\n").split("\t")
    if len(f) == 3 and not line.startswith("#"):
        data = expand(f[1])
        if data not in seen:
            seen.add(data)
            seed("validate", "%s-%03d" % (f[0], len(seen)), data)
for t in ("9:00 AM", "12:00 pm", "10:30pm", "2024-02-29T23:59:60.123456789+05:30"):
    seed("validate", "extra-" + re.sub(r"[^0-9A-Za-z]", "_", t), t)

# ---- csv: cells split at NUL, a cell starting with 0x01 is NULL ----------------------------
for i, cells in enumerate([
        ["a", "b", "c"], ["=SUM(A1:A2)", "+1", "-2", "@cmd", "\tx", "\rx"],
        ['say "hi", ok', "line\nbreak", "cr\rhere"], ["\x01", "", "x"], [""],
        ["Pat O'Brien", "2024-05-14T10:00:00Z", "appointment.update", '=HYPERLINK("x")']]):
    seed("csv", "cells-%d" % i, "\0".join(cells))

# ---- checkpoint: lines of the error log ----------------------------------------------------
MAC = "a9f39faaa18c04ebf125aa2bb7f2f548c27ab44b85f8c8444bcfbc119665a0c0"
SIG = "da4ae9fb192e02f09638e78291874e19d472027bfd5ef19c55fd9cb3608bf698"
for i, line in enumerate([
        "[Mon Jan 01 00:00:00.000000 2024] [docportal:notice] [pid 7:tid 9] DP09001: "
        "audit checkpoint position=2 at=1700000000999999 mac=%s sig=%s\n" % (MAC, SIG),
        "audit checkpoint position=2 at=1 mac=%s sig=%s" % (MAC.upper(), SIG),
        "audit checkpoint position=0 at=1 mac=%s sig=%s" % (MAC, SIG),
        "audit checkpoint position=2 at=1 mac=%s0 sig=%s" % (MAC, SIG),
        "audit checkpoint position=2 at=1 mac=%s sig=abc" % MAC,
        "audit checkpoint position=99999999999999999999 at=1 mac=%s sig=%s\r\n" % (MAC, SIG),
        "some other line"]):
    seed("checkpoint", "line-%d" % i, line)

# ---- jsonw: programs (see fuzz_jsonw.c) ----------------------------------------------------
def s8(text):
    b = text if isinstance(text, bytes) else text.encode()
    return bytes([len(b)]) + b


def ll(v):
    return struct.pack(">q", v)


OBJ, ARR, END, STR, INT, BOOL, NUL, MONEY = range(8)
seed("jsonw", "object-scalars", bytes([0]) + bytes([STR]) + s8("id") + s8(SUB)
     + bytes([INT]) + s8("n") + ll(-42) + bytes([BOOL]) + s8("ok") + b"\1"
     + bytes([NUL]) + s8("none") + bytes([MONEY]) + s8("amount") + ll(999999999999999 + 14999)
     + bytes([END]))
seed("jsonw", "nested", bytes([1, OBJ, STR]) + s8("name") + s8("Pat \"O\" \\ é 😀")
     + bytes([ARR]) + s8("list") + bytes([INT]) + ll(2 ** 63 - 1) + bytes([MONEY]) + ll(0)
     + bytes([END, END, STR]) + s8("\x01\x1f\x7f\n\t"))
seed("jsonw", "not-utf8", bytes([1, STR]) + s8(b"\xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80 \xff")
     + bytes([OBJ, STR]) + s8(b"\xe2\x82") + s8("v") + bytes([END]))
seed("jsonw", "duplicate-key", bytes([0, INT]) + s8("a") + ll(1) + bytes([INT]) + s8("a") + ll(2))
seed("jsonw", "deep", bytes([1]) + bytes([ARR]) * 16)
seed("jsonw", "empty-containers", bytes([0, OBJ]) + s8("") + bytes([END, ARR]) + s8("x")
         + bytes([END]))

# ---- route: method NUL path ----------------------------------------------------------------
for i, (m, path) in enumerate([
        ("GET", "/api/health"), ("GET", "/api/appointments/" + SUB), ("PATCH", "/api/appointments/x"),
        ("POST", "/api/appointments/x/join"), ("PUT", "/api/health"), ("GET", "/api/a/1/2/3/4"),
        ("GET", "/api/appointments//join"), ("GET", "/api/appointments/"),
        ("DELETE", "/api/provider/time-off/1/"), ("POST", "/api/provider/clinical-notes/a/sign")]):
    seed("route", "req-%d" % i, m + "\0" + path)

# ---- json: request bodies ------------------------------------------------------------------
for i, body in enumerate([
        js({"email": "pat@example.com", "password": "correct horse battery"}),
        js({"clientId": SUB, "date": "2024-05-14", "time": "10:00", "amount": 149.99}),
        '{"amount": 1e308, "fee": -0.0, "tip": 0.005, "n": 12, "s": "12"}',
        '{"a": "\\u0000x", "b": "\\u001f", "c": "tab\\there", "d": "\\ud83d\\ude00"}',
        '{"a": 1, "a": 2}', '{"x": {"y": [1, 2, {"z": null}]}, "t": true}', '[1]', '{"a":',
        '{"amount": 99999999.99, "big": 9223372036854775807, "neg": -1}']):
    seed("json", "body-%d" % i, body)

# ---- dictionaries -------------------------------------------------------------------------
dicts = {
    "jwt": ['"alg"', '"HS256"', '"typ"', '"JWT"', '"sub"', '"role"', '"provider"', '"client"',
            '"jti"', '"iat"', '"exp"', '"sv"', b64url(HS.encode()), SUB, "1700000000", "."],
    "google_id": ['"kid"', '"keys"', '"kty"', '"RSA"', '"n"', '"e"', '"use"', '"sig"', '"alg"',
                  '"RS256"', '"iss"', '"https://accounts.google.com"', '"aud"', '"' + CLIENT_ID + '"',
                  '"sub"', '"email"', '"email_verified"', '"nbf"', '"crit"', '"fz"', "true",
                  "-----BEGIN CERTIFICATE-----", "max-age=", "no-cache", "no-store"],
    "stripe": ["t=", "v1=", "v0=", ", ", '"id"', '"type"', '"data"', '"object"', '"payment_intent"',
               '"metadata"', '"invoice_id"', '"amount"', '"amount_received"', '"currency"',
               '"livemode"', '"last_payment_error"', '"message"', '"payment_method"', '"status"',
               "1700000000"],
    "accept": ["q=", ";q=0.", "*/*", "text/*", "text/csv", "application/json", ", ", ";"],
    "route": ["/api/", "appointments/", "/join", "GET", "POST", "PATCH", "DELETE", "//"],
    "json": ['"amount"', '"email"', "\\u0000", "\\ud83d", "1e308", "0.005", "-0.0", "null", "true"],
    "cookie": ["dp_session=", "dp_csrf=", "; ", ", ", '"'],
    "checkpoint": ["audit checkpoint ", "position=", " at=", " mac=", " sig=", "DP09001: ", MAC],
    "validate": ["@", ".com", "T", "Z", "+05:30", ".123", " AM", "PM", "https://", "http://",
                 "America/New_York", "2024-02-29", "23:59", "+1 (555) 010-0000"],
}


def dict_entry(s):
    return '"' + "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "\\x%02x" % ord(c)
                         for c in s) + '"'


for target, words in dicts.items():
    with open(os.path.join(HERE, target + ".dict"), "w") as f:
        f.write("# libFuzzer dictionary of fuzz_%s (written by make-seeds.py)\n" % target)
        for w in words:
            f.write(dict_entry(w) + "\n")

for target, seeds in corpora.items():
    d = os.path.join(HERE, "corpus", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for n, data in seeds.items():
        with open(os.path.join(d, n), "wb") as f:
            f.write(data)
    print("%-11s %3d seeds" % (target, len(seeds)))
