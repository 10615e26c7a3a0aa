"""Cache-off oracle (issue 11, "Proof"): a seeded random sequence of requests
to a server with every cache on, each decision compared with (a) the same
request on a new connection to an identical server with every cache off and
(b) the expectation computed from the rule table.  See oracle.py for the
configuration (virtual hosts, <Location>/<Directory>/.htaccess contexts,
sources, trusted proxies, mod_cache) and README ("Cache-off oracle") for
the long run.

Environment:
    X509A_ORACLE_SEED       seed of the sequence (default: a random one,
                            printed, so a failure can be replayed)
    X509A_ORACLE_REQUESTS   requests in the sequence (default 2000)
    X509A_ORACLE_PHASE      requests per phase: .htaccess files are rewritten
                            and the CRL file replaced between phases
                            (default: the sequence in 5 phases, at least 200
                            and at most 1000 requests each)
    X509A_ORACLE_MINIMIZE   how many classes of differences to reduce to a
                            shortest sequence (default 3; each replays on
                            freshly started servers)
    X509A_ORACLE_REPORT     write every difference (JSON) to this file
"""

import collections
import json
import os
import random
import re
import sys
import time

import pytest

from httpd import REGISTRY
import oracle as O


def _env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v else default


@pytest.fixture
def pair(request, workroot, pki, module_so, loopback_aliases):
    p = O.Pair(workroot, pki, module_so, REGISTRY)

    def fin():
        p.stop()
        for h in p.servers():
            if h in REGISTRY:
                REGISTRY.remove(h)
    request.addfinalizer(fin)
    p.start(0)
    return p


# what every run must have exercised (n >= 2000 makes each near certain)
COVERAGE = ("login tls h1", "login tls h2", "login header h1", "login header h2",
            "login basic h1", "status 403", "status 401", "status 0",
            "client reused", "client resumed", "client h2 streams reused",
            "revoked forwarded, refused (CRL lists it)",
            "revoked forwarded, login (CRL without it)",
            # refusal reasons (X509_AUTHN_ERROR), compared with the oracle's
            "reason no-certificate", "reason untrusted-peer", "reason revoked",
            "reason chain-invalid", "reason rule:IssuingCA", "reason rule:Issuer",
            "reason rule:Serial", "reason rule:MaxDepth")


def summarize(results, stats):
    """What the run exercised: decisions by outcome and source, protocols,
    connection reuse."""
    c = collections.Counter()
    for r, s, o, m in results:
        st = s["status"]
        if st == 200 and s["user"]:
            c["login %s %s" % (s["src"] or "basic", r.proto)] += 1
        else:
            c["status %d" % st] += 1
        c["vhost %s" % r.vhost] += 1
        if s.get("err"):
            c["reason %s" % s["err"]] += 1
        eff = O.ctx_for(r.path, r.phase).eff
        if r.hdr == "revoked" and r.vhost != "mixed" and r.peer in O.TRUST[r.vhost] \
                and o is not None and eff.get("authtype") in ("X509", "fallback") \
                and eff.get("source", "any") != "tls":
            # the live CRL file, replaced between phases
            login = o["status"] == 200 and o["src"] == "header"
            if O.crl_revoked(r.phase) and not login:
                c["revoked forwarded, refused (CRL lists it)"] += 1
            elif not O.crl_revoked(r.phase) and login:
                c["revoked forwarded, login (CRL without it)"] += 1
        c["kind %s" % O.PATH_KIND[r.path][0]] += 1
    c.update({"client " + k: v for k, v in stats.items()})
    return c


@pytest.fixture
def pair_shared(request, workroot, pki, module_so, loopback_aliases):
    """The subject with the shared cache only (X509AuthnCacheEntries 0)."""
    p = O.Pair(workroot, pki, module_so, REGISTRY, subject_caches="shared")

    def fin():
        p.stop()
        for h in p.servers():
            if h in REGISTRY:
                REGISTRY.remove(h)
    request.addfinalizer(fin)
    p.start(0)
    return p


COMPACT_HIT = re.compile(r"X509A0303: verification result taken from the shared cache "
                         r"\([^)]*\), with the certificate's compact form")
SHARED_HIT = re.compile(r"X509A0303: verification result taken from the shared cache")


def test_cache_off_oracle_shared_only(pair_shared, pki, capsys):
    """The oracle with a subject whose per-process cache is off: every
    forwarded certificate is looked up in the shared cache, and a verified
    one served from its record's compact form (issue 16), never decoded.
    X509A_ORACLE_SHARED_REQUESTS requests (default 600)."""
    n = _env_int("X509A_ORACLE_SHARED_REQUESTS", 600)
    mark = pair_shared.subject.log_mark()
    run_oracle(pair_shared, pki, capsys, n, coverage=(
        "login header h1", "login header h2", "reason revoked"))
    log = pair_shared.subject.log_since(mark)
    compact = len(COMPACT_HIT.findall(log))
    shared = len(SHARED_HIT.findall(log))
    with capsys.disabled():
        sys.stderr.write("oracle (shared cache only): %d shared hits, %d served from "
                         "compact forms\n" % (shared, compact))
    assert compact > 0, (shared, compact)


def test_cache_off_oracle(pair, pki, capsys):
    run_oracle(pair, pki, capsys, _env_int("X509A_ORACLE_REQUESTS", 2000), COVERAGE)


def run_oracle(pair, pki, capsys, n, coverage):
    seed = _env_int("X509A_ORACLE_SEED", random.randrange(1 << 31))
    phase_len = _env_int("X509A_ORACLE_PHASE", min(1000, max(200, n // 5)))
    reqs = O.generate(seed, n, phase_len)
    nctx, nvctx = O.context_count()
    with capsys.disabled():
        sys.stderr.write("\noracle: seed %d, %d requests, %d phases, %d contexts "
                         "(%d with virtual hosts); replay with X509A_ORACLE_SEED=%d "
                         "X509A_ORACLE_REQUESTS=%d\n" % (
                             seed, n, reqs[-1].phase + 1, nctx, nvctx, seed, n))
    runner = O.Runner(pair, pki)
    t0 = time.time()
    results = runner.run(reqs)
    elapsed = time.time() - t0
    stats = summarize(results, runner.stats)
    diffs = runner.differences(results)
    classes = collections.OrderedDict()
    # differences from the oracle (a cache changed a decision) first
    for d in sorted(diffs, key=lambda d: d[0]):
        classes.setdefault(runner.signature(d), []).append(d)
    with capsys.disabled():
        sys.stderr.write("oracle: %d requests to each server in %.1f s; %d differences "
                         "in %d classes\n  %s\n" % (
                             len(results), elapsed, len(diffs), len(classes),
                             "\n  ".join("%s: %d" % kv for kv in sorted(stats.items()))))
    report_path = os.environ.get("X509A_ORACLE_REPORT")
    if report_path:
        with open(report_path, "w") as f:
            json.dump(dict(seed=seed, requests=n, seconds=elapsed, stats=stats,
                           differences=[dict(kind=k, req=r.as_dict(), fields=fl,
                                             subject=s, oracle=o, model=m)
                                        for k, r, fl, s, o, m in diffs]), f, indent=1)

    # the run exercised what it claims to
    missing = [what for what in coverage if not stats[what]]
    if not diffs:
        assert not missing, "the sequence never produced %r: %r" % (missing, stats)
        return
    out = ["%d decisions differ (%d classes); seed %d" % (len(diffs), len(classes), seed)]
    for sig, ds in classes.items():
        out.append("  %4d x %s, %s context, differing in %s; first: %r" % (
            (len(ds),) + sig + (ds[0][1],)))
    # reduce one difference per (oracle or model, kind of context), those
    # from the oracle first; a request that differs from the oracle too is
    # not reduced again as a difference from the model
    budget = _env_int("X509A_ORACLE_MINIMIZE", 3)
    vs_oracle = {d[1].i for d in diffs if d[0] == "a"}
    picked, seen = [], set()
    for sig, ds in classes.items():
        first = [d for d in ds if d[0] == "a" or d[1].i not in vs_oracle]
        if len(picked) < budget and sig[:2] not in seen and first:
            picked.append(first[0])
            seen.add(sig[:2])
    for d in picked:
        seq, reproduced = runner.minimize(reqs, d)
        out.append("")
        out.append(O.describe(d))
        out.append("  shortest sequence found (%d replays on fresh servers)%s:" % (
            runner.replays, "" if reproduced else
            " -- NOT reproduced in isolation; the requests before it"))
        out += ["    %r" % r for r in seq]
    if missing:
        out.append("(and the sequence never produced %r)" % missing)
    pytest.fail("\n".join(out), pytrace=False)
