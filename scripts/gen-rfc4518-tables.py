#!/usr/bin/python3
# Licensed under the Apache License, Version 2.0 (see COPYING).
"""Generate the built-in RFC 4518 (LDAP caseIgnoreMatch) string preparation
tables of lib/x509a_strprep.c and the unit test vectors that check them.

Run by hand (not at build time), from the top of the source tree:

    python3 scripts/gen-rfc4518-tables.py

and commit both outputs:

    lib/x509a_strprep_tables.h    tables (Unicode 3.2, as RFC 3454 fixes it)
    tests/unit/strprep_vectors.h  inputs with the expected prepared form

The data comes from Python's unicodedata.ucd_3_2_0 (Unicode 3.2: NFKC,
combining classes, categories) and from the tables of RFC 3454 itself,
extracted in scripts/rfc3454-tables.txt (A.1, B.2, C.3, C.4, C.5, C.8).
Python's stringprep module is not used for B.2: its map_table_b2() lower-
cases with the running Python's Unicode version (e.g. it maps Georgian
U+10A0 and Cherokee U+13A0, which RFC 3454 leaves alone), so it is neither
RFC 3454 nor the same on every Python.  The preparation (RFC 4518 section 2) is:
  2.1 Transcode  (the caller: ASN.1 strings to UTF-8)
  2.2 Map        the RFC 4518 map-to-nothing and map-to-space lists, then
                 RFC 3454 table B.2 (case folding for use with NFKC)
  2.3 Normalize  NFKC, Unicode 3.2
  2.4 Prohibit   RFC 3454 A.1 (unassigned in 3.2), C.3, C.4, C.5, C.8 and
                 U+FFFD: the string cannot be prepared (never matches)
  2.5 Bidi       ignored, as RFC 4518 says
  2.6.1 Insignificant space handling, in the form used for equality: a
                 space (U+0020 not followed by a combining mark) run is one
                 separator; leading and trailing runs go, inner runs become
                 one U+0020.  Two strings get the same form here exactly
                 when they get the same RFC 4518 form (which writes inner
                 runs as two spaces and adds one at each end).

The C code applies, per code point, the full mapping NFKD(B.2(2.2(c))) from
one table, then canonical reordering and canonical composition (from the
canonical combining classes and the primary composite pairs below; Hangul
algorithmically), then the prohibited ranges, then the space rule.
"""

import os
import random
import sys
import unicodedata

U = unicodedata.ucd_3_2_0
assert U.unidata_version == "3.2.0"

# RFC 4518 2.2: mapped to nothing.  (The RFC prints the variation selectors
# as "FF00-FE0F", a known typo for FE00-FE0F.)
NOTHING = set([0x00AD, 0x1806, 0x034F, 0x180B, 0x180C, 0x180D, 0xFFFC,
               0x200B])
NOTHING |= set(range(0xFE00, 0xFE10))
for lo, hi in [(0x0000, 0x0008), (0x000E, 0x001F), (0x007F, 0x0084),
               (0x0086, 0x009F), (0x06DD, 0x06DD), (0x070F, 0x070F),
               (0x180E, 0x180E), (0x200C, 0x200F), (0x202A, 0x202E),
               (0x2060, 0x2063), (0x206A, 0x206F), (0xFEFF, 0xFEFF),
               (0xFFF9, 0xFFFB), (0x1D173, 0x1D17A), (0xE0001, 0xE0001),
               (0xE0020, 0xE007F)]:
    NOTHING |= set(range(lo, hi + 1))

# RFC 4518 2.2: mapped to SPACE.
SPACE = set([0x0009, 0x000A, 0x000B, 0x000C, 0x000D, 0x0085,
             0x0020, 0x00A0, 0x1680, 0x202F, 0x205F, 0x3000, 0x2028,
             0x2029])
SPACE |= set(range(0x2000, 0x200B))
assert not (NOTHING & SPACE)
# the RFC's lists are "complete": every Zs/Zl/Zp of 3.2 but U+200B
assert set(c for c in range(0x110000)
           if U.category(chr(c)) in ("Zs", "Zl", "Zp")) - {0x200B} <= SPACE

HANGUL_S, HANGUL_S_END = 0xAC00, 0xAC00 + 11172


def read_rfc3454(path):
    """Tables of RFC 3454: {name: {code point: mapping or None}}."""
    tables, cur = {}, None
    for line in open(path, encoding="ascii"):
        line = line.strip()
        if line.startswith("----- Start Table "):
            cur = tables.setdefault(line.split()[3], {})
        elif line.startswith("----- End Table "):
            cur = None
        elif cur is not None and line:
            fields = line.split(";")
            lo, _, hi = fields[0].strip().partition("-")
            lo, hi = int(lo, 16), int(hi or lo, 16)
            m = None
            if len(fields) > 2:
                m = "".join(chr(int(x, 16)) for x in fields[1].split())
            for c in range(lo, hi + 1):
                cur[c] = m
    return tables


RFC3454 = read_rfc3454(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "rfc3454-tables.txt"))
B2 = RFC3454["B.2"]
PROHIBITED = set(RFC3454["A.1"]) | set(RFC3454["C.3"]) | \
    set(RFC3454["C.4"]) | set(RFC3454["C.5"]) | set(RFC3454["C.8"]) | \
    {0xFFFD}
assert len(B2) == 1371
# A.1 is what Unicode 3.2 leaves unassigned (non-characters are C.4)
assert set(RFC3454["A.1"]) == set(
    c for c in range(0x110000) if U.category(chr(c)) == "Cn"
    and not (0xFDD0 <= c <= 0xFDEF or (c & 0xFFFF) >= 0xFFFE)
    and not 0xD800 <= c <= 0xDFFF)


def is_surrogate(c):
    return 0xD800 <= c <= 0xDFFF


def map22(s):
    """RFC 4518 2.2 (map lists, then table B.2) of a string."""
    out = []
    for ch in s:
        c = ord(ch)
        if c in NOTHING:
            continue
        if c in SPACE:
            ch = " "
        out.append(B2.get(ord(ch), ch))
    return "".join(out)


def prohibited(c):
    return c in PROHIBITED


def is_mark(c):
    # RFC 4518 2.6.1 "combining marks" (its appendix A): Unicode 3.2 M*
    return U.category(chr(c)) in ("Mn", "Mc", "Me")


def space_fold(s):
    """RFC 4518 2.6.1 in the equality form described above."""
    out, pending = [], False
    for i, ch in enumerate(s):
        if ch == " " and not (i + 1 < len(s) and is_mark(ord(s[i + 1]))):
            pending = bool(out)
            continue
        if pending:
            out.append(" ")
            pending = False
        out.append(ch)
    return "".join(out)


def prepare(s):
    """The expected result: the prepared string, or None (prohibited)."""
    n = U.normalize("NFKC", map22(s))
    if any(prohibited(ord(ch)) for ch in n):
        return None
    return space_fold(n)


def ranges(points):
    r = []
    for c in sorted(points):
        if r and r[-1][1] == c - 1:
            r[-1][1] = c
        else:
            r.append([c, c])
    return r


def build_tables():
    # per code point: NFKD of the mapped character, where it differs
    maps = {}
    for c in range(0x110000):
        if is_surrogate(c) or HANGUL_S <= c < HANGUL_S_END:
            continue
        full = U.normalize("NFKD", map22(chr(c)))
        if full != chr(c):
            maps[c] = [ord(x) for x in full]
    ccc = {c: U.combining(chr(c)) for c in range(0x110000)
           if not is_surrogate(c) and U.combining(chr(c))}
    # primary composites: a canonical pair decomposition that NFC keeps
    pairs = {}
    for c in range(0x110000):
        if is_surrogate(c) or HANGUL_S <= c < HANGUL_S_END:
            continue
        d = U.decomposition(chr(c))
        if not d or d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()]
        if len(parts) == 2 and U.normalize("NFC", chr(c)) == chr(c):
            pairs[(parts[0], parts[1])] = c
    prohib = ranges(c for c in range(0x110000) if prohibited(c))
    marks = ranges(c for c in range(0x110000) if is_mark(c))
    return maps, ccc, pairs, prohib, marks


def emit_tables(path, maps, ccc, pairs, prohib, marks):
    data, index = [], []
    for c in sorted(maps):
        m = maps[c]
        index.append((c, len(data), len(m)))
        data.extend(m)
    assert len(data) < 65536 and max(len(m) for m in maps.values()) < 256
    maxlen = max(len(m) for m in maps.values())
    w = []
    w.append("/* Licensed under the Apache License, Version 2.0 (see COPYING). */")
    w.append("")
    w.append("/* GENERATED by scripts/gen-rfc4518-tables.py from Unicode 3.2")
    w.append(" * (Python unicodedata.ucd_3_2_0) and RFC 3454's tables: do not")
    w.append(" * edit.  Included by x509a_strprep.c only. */")
    w.append("")
    w.append("#define X509A_SP_MAX_MAP %d" % maxlen)
    w.append("")
    w.append("/* RFC 4518 2.2 mapping (with RFC 3454 B.2) followed by NFKD, per")
    w.append(" * code point, where it is not the code point itself; sorted.  Hangul")
    w.append(" * syllables are decomposed algorithmically. */")
    w.append("static const x509a_sp_map sp_map[%d] = {" % len(index))
    for i in range(0, len(index), 4):
        w.append("    " + " ".join("{ 0x%05X, %d, %d }," % e
                                   for e in index[i:i + 4]))
    w.append("};")
    w.append("")
    w.append("static const apr_uint32_t sp_map_data[%d] = {" % len(data))
    for i in range(0, len(data), 8):
        w.append("    " + " ".join("0x%05X," % x for x in data[i:i + 8]))
    w.append("};")
    w.append("")
    w.append("/* Canonical combining classes other than 0; sorted. */")
    cl = sorted(ccc.items())
    w.append("static const x509a_sp_ccc sp_ccc[%d] = {" % len(cl))
    for i in range(0, len(cl), 6):
        w.append("    " + " ".join("{ 0x%05X, %d }," % e for e in cl[i:i + 6]))
    w.append("};")
    w.append("")
    w.append("/* Canonical composition: primary composites (composition")
    w.append(" * exclusions left out) by their pair; sorted by pair. */")
    pl = sorted(pairs.items())
    w.append("static const x509a_sp_pair sp_pairs[%d] = {" % len(pl))
    for i in range(0, len(pl), 3):
        w.append("    " + " ".join("{ 0x%05X, 0x%05X, 0x%05X }," % (a, b, c)
                                   for (a, b), c in pl[i:i + 3]))
    w.append("};")
    w.append("")
    w.append("/* RFC 4518 2.4 prohibited code points: RFC 3454 A.1, C.3, C.4,")
    w.append(" * C.5, C.8 and U+FFFD; sorted ranges. */")
    w.append("static const x509a_sp_range sp_prohibited[%d] = {" % len(prohib))
    for i in range(0, len(prohib), 4):
        w.append("    " + " ".join("{ 0x%05X, 0x%05X }," % tuple(e)
                                   for e in prohib[i:i + 4]))
    w.append("};")
    w.append("")
    w.append("/* Combining marks (Unicode 3.2 Mn, Mc, Me) for RFC 4518 2.6.1;")
    w.append(" * sorted ranges. */")
    w.append("static const x509a_sp_range sp_marks[%d] = {" % len(marks))
    for i in range(0, len(marks), 4):
        w.append("    " + " ".join("{ 0x%05X, 0x%05X }," % tuple(e)
                                   for e in marks[i:i + 4]))
    w.append("};")
    with open(path, "w") as f:
        f.write("\n".join(w) + "\n")
    return len(index), len(data), len(cl), len(pl), len(prohib), len(marks)


def c_string(b):
    out = []
    for x in b:
        if 0x20 <= x < 0x7F and chr(x) not in '"\\?':
            out.append(chr(x))
        else:
            out.append("\\%03o" % x)
    return '"' + "".join(out) + '"'


def vectors(maps, ccc, pairs):
    rnd = random.Random(4518)
    v = []
    # every code point with a mapping, alone and between letters
    for c in sorted(maps):
        v.append(chr(c))
    for c in sorted(maps)[::7]:
        v.append("A" + chr(c) + "b")
    # every combining class, after a letter and after a space
    for c in sorted(ccc):
        v.append("e" + chr(c))
        v.append("x " + chr(c))
    # every composition pair
    for (a, b) in sorted(pairs):
        v.append(chr(a) + chr(b))
    # Hangul, both ways
    for s in ["\uAC00", "\uAC01", "\u1100\u1161", "\u1100\u1161\u11A8",
              "\uAC00\u11A8", "\uD7A3", "\u1112\u1175\u11C2", "\u1100\u11A8"]:
        v.append(s)
    # the cases the documentation names
    named = ["adm\u0130n", "admin", "ADMIN", "\uff41\uff44\uff4d\uff49\uff4e",
             "\u212Aelvin", "  a   b  ", "\u00DF", "\u1E9E", "\u00C5",
             "A\u030A", "\u212B", "caf\u00E9", "cafe\u0301", "\u00AD",
             "a\u00ADb", "a\u200Bb", "a\u00A0b", "a\u3000b", "\ufffd",
             "\ue000", "\U000F0000", "\ufdd0", "\u0221", "x\u0085y",
             "a\tb\r\nc", "a\u0000b", "\u00B4", "a \u0301", "a  \u0301",
             " \u0301a", "\u0301", "\u2126", "\u03A3", "\u03C2", "\uFB01",
             "\u0149", "\u1E9B\u0323", "\u0344", "\u0F73", "\u0958",
             "\u2460", "\u33C6", "\uFDFA", "\uFF21\uFF22", "\u10A0",
         "\u13A0", "\u04C0", "\u1E9E", "\U0001F600", ""]
    v.extend(named)
    # random mixtures
    pools = [
        [chr(c) for c in range(0x20, 0x7F)],
        [chr(c) for c in sorted(maps)],
        [chr(c) for c in sorted(ccc)],
        [chr(a) for (a, b) in pairs] + [chr(b) for (a, b) in pairs],
        [" ", " ", "\u00A0", "\t", "\u3000"],
        [chr(c) for c in range(0x1100, 0x1200)] + ["\uAC00", "\uAC1C"],
        [chr(rnd.randrange(0x80, 0x30000)) for _ in range(4000)],
    ]
    for _ in range(3000):
        n = rnd.randrange(1, 12)
        s = "".join(rnd.choice(rnd.choice(pools)) for _ in range(n))
        v.append(s)
    # long runs of combining marks (the C code sorts those differently)
    marks = [chr(c) for c in sorted(ccc)]
    for n in (33, 40, 64, 100, 200):
        for base in ("a", "A ", "\u1100", ""):
            v.append(base + "".join(rnd.choice(marks) for _ in range(n)) + "z")
    out, seen = [], set()
    for s in v:
        s = "".join(ch for ch in s if not is_surrogate(ord(ch)))
        if s in seen:
            continue
        seen.add(s)
        out.append((s, prepare(s)))
    return out


def emit_vectors(path, vecs):
    w = []
    w.append("/* Licensed under the Apache License, Version 2.0 (see COPYING). */")
    w.append("")
    w.append("/* GENERATED by scripts/gen-rfc4518-tables.py: RFC 4518 prepared")
    w.append(" * forms as Python computes them (unicodedata.ucd_3_2_0, RFC 3454);")
    w.append(" * out NULL: a prohibited code point (never equal).  Do not edit. */")
    w.append("")
    w.append("static const struct {")
    w.append("    const char *in;")
    w.append("    unsigned in_len;")
    w.append("    const char *out;")
    w.append("} strprep_vectors[%d] = {" % len(vecs))
    for s, r in vecs:
        b = s.encode("utf-8")
        w.append("    { %s, %d, %s }," % (
            c_string(b), len(b),
            "NULL" if r is None else c_string(r.encode("utf-8"))))
    w.append("};")
    with open(path, "w") as f:
        f.write("\n".join(w) + "\n")


def main():
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    maps, ccc, pairs, prohib, marks = build_tables()
    counts = emit_tables(os.path.join(top, "lib", "x509a_strprep_tables.h"),
                         maps, ccc, pairs, prohib, marks)
    vecs = vectors(maps, ccc, pairs)
    emit_vectors(os.path.join(top, "tests", "unit", "strprep_vectors.h"), vecs)
    sys.stderr.write("maps %d (data %d), ccc %d, pairs %d, prohibited ranges %d, "
                     "mark ranges %d; %d vectors\n" % (counts + (len(vecs),)))


if __name__ == "__main__":
    main()
