"""X509AuthnRequireIssuingCA in .htaccess files, composed across directories,
connections and edits (issue 11, defect 1).

httpd rebuilds .htaccess rules in every request's pool, so two directories'
rules can live at the same address one request after the other; the
certificate entries that remember the issuing-CA answer are shared by a
connection (keep-alive, HTTP/2) and by the process.  Each directory must
answer with its own rule, and an edited .htaccess (or IssuingCA file) must
apply at once to certificates seen before.

Layout: htdocs/ica/a/.htaccess asks for Issuing CA A, htdocs/ica/b/ for
Issuing CA B; alice is issued by A, bob by B.  Virtual hosts: main (direct
TLS, SSLVerifyClient optional), hdr (plain HTTP) and hdrtls (TLS) trusting
127.0.0.1 as a proxy that forwards X-SSL-Client-Cert.
"""

import os

import pytest

from clients import curl, curl_multi, http_keepalive
from expect import ALICE_DN, BOB_DN, denied
import forwarded as F
from httpd import new_httpd, quote

PAGE = "<html>ica</html>\n"
HTACCESS = ("AuthType X509\nX509AuthnRequireIssuingCA %s\n"
            "Require valid-user\n")
# each user, the directory of its CA and the other one
OWN = {"alice": "a", "bob": "b"}
OTHER = {"alice": "b", "bob": "a"}
DN = {"alice": ALICE_DN, "bob": BOB_DN}
REFUSED_RX = r"chain does not pass through a CA of X509AuthnRequireIssuingCA"


def _write_htaccess(srv, d, ca_file):
    srv.write_file("htdocs/ica/%s/.htaccess" % d,
                   HTACCESS % quote(srv.path("conf/" + ca_file)))


def _server(request, workroot, pki, module_so, cache_entries=None):
    srv = new_httpd(request, workroot, pki, module_so, name="hta-compose")
    for d in ("ica", "ica/a", "ica/b", "ica/e"):
        os.makedirs(srv.path("htdocs/" + d), exist_ok=True)
        os.chmod(srv.path("htdocs/" + d), 0o755)
    for d in ("a", "b", "e"):
        srv.write_file("htdocs/ica/%s/page.html" % d, PAGE)
    srv.write_file("conf/ica-a.pem", pki["issuing-a"].pem)
    srv.write_file("conf/ica-b.pem", pki["issuing-b"].pem)
    srv.write_file("conf/ica-e.pem", pki["issuing-a"].pem)
    _write_htaccess(srv, "a", "ica-a.pem")
    _write_htaccess(srv, "b", "ica-b.pem")
    _write_htaccess(srv, "e", "ica-e.pem")
    server_extra = '<Directory "%s">\n    AllowOverride AuthConfig\n</Directory>\n' \
        % srv.path("htdocs/ica")
    if cache_entries is not None:
        server_extra += "X509AuthnCacheEntries %d\n" % cache_entries
    trust = F.trust("127.0.0.1", ca=pki.ca_bundle)
    srv.start(server_extra=server_extra,
              extra_vhosts={"hdr": trust,
                            "hdrtls": {"verify": "optional", "conf": trust}})
    return srv


@pytest.fixture
def fresh(request, workroot, pki, module_so):
    """A factory of freshly started servers (nothing remembered yet)."""
    def make(cache_entries=None):
        return _server(request, workroot, pki, module_so, cache_entries)
    return make


def url(srv, d, vhost="main"):
    return srv.url("/ica/%s/page.html" % d, vhost=vhost)


def expect(user, dirs):
    """(status, user) expected for `user` asking each of `dirs`."""
    return [(200, DN[user]) if d == OWN[user] else (403, "") for d in dirs]


def alternating(first, second):
    """Ten requests, each directory after itself and after the other (the
    rules of the next request often sit where the previous ones did: more
    turns, more chances for that)."""
    return [first, second, first, second, second, first, first, second,
            first, second]


def get(srv, user, d, **kw):
    r = curl(url(srv, d), cert=srv.pki[user], **kw)
    return r.status, r.user


# -- direct TLS, a new connection per request ------------------------------------

@pytest.mark.parametrize("user", ["alice", "bob"])
def test_tls_own_then_other_directory(fresh, user):
    """The issue's repro: alice /a/ then /b/ (200, 403); on a fresh server bob
    /b/ then /a/ (200, 403).  The process keeps the certificate's entry
    between connections."""
    srv = fresh()
    dirs = [OWN[user], OTHER[user], OWN[user], OTHER[user]]
    got = [get(srv, user, d) for d in dirs]
    assert got == expect(user, dirs)


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_tls_other_then_own_directory(fresh, user):
    """A refusal remembered first must not refuse the user's own directory."""
    srv = fresh()
    dirs = [OTHER[user], OWN[user], OTHER[user], OWN[user]]
    got = [get(srv, user, d) for d in dirs]
    assert got == expect(user, dirs)


def test_tls_refusal_logged(fresh):
    srv = fresh()
    assert get(srv, "alice", "a") == (200, ALICE_DN)
    mark = srv.log_mark()
    denied(curl(url(srv, "b"), cert=srv.pki["alice"]))
    assert srv.wait_log(mark, REFUSED_RX), srv.log_since(mark)


# -- direct TLS, one connection (keep-alive, HTTP/2) ---------------------------------

@pytest.mark.parametrize("cache_entries", [None, 0], ids=["cache", "nocache"])
@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
@pytest.mark.parametrize("user", ["alice", "bob"])
def test_tls_one_connection(fresh, user, http2, cache_entries):
    """Both directories, in turn, on one connection: the connection's entry
    (which exists with X509AuthnCacheEntries 0 too) answers for each
    directory on its own."""
    srv = fresh(cache_entries)
    dirs = alternating(OWN[user], OTHER[user])
    res = curl_multi([url(srv, d) for d in dirs], cert=srv.pki[user], http2=http2)
    assert [n for _, _, n, _ in res] == [1] + [0] * (len(dirs) - 1), res
    assert {v for _, v, _, _ in res} == {"2" if http2 else "1.1"}, res
    assert [(s, u) for s, _, _, u in res] == expect(user, dirs)


@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_tls_one_connection_other_first(fresh, http2):
    srv = fresh(0)
    dirs = alternating("b", "a")
    res = curl_multi([url(srv, d) for d in dirs], cert=srv.pki["alice"], http2=http2)
    assert [n for _, _, n, _ in res] == [1] + [0] * (len(dirs) - 1), res
    assert [(s, u) for s, _, _, u in res] == expect("alice", dirs)


# -- edits take effect at once -------------------------------------------------------

def test_htaccess_edited(fresh):
    """a/.htaccess rewritten to ask for Issuing CA B: alice, seen before, is
    refused at once, and bob admitted; rewritten back, the reverse."""
    srv = fresh()
    for _ in range(2):
        assert get(srv, "alice", "a") == (200, ALICE_DN)
        assert get(srv, "bob", "a") == (403, "")
    _write_htaccess(srv, "a", "ica-b.pem")
    for _ in range(3):
        assert get(srv, "alice", "a") == (403, "")
        assert get(srv, "bob", "a") == (200, BOB_DN)
    assert get(srv, "alice", "b") == (403, "")
    _write_htaccess(srv, "a", "ica-a.pem")
    for _ in range(3):
        assert get(srv, "alice", "a") == (200, ALICE_DN)
        assert get(srv, "bob", "a") == (403, "")


def test_issuing_ca_file_edited(fresh):
    """The same .htaccess, the IssuingCA file it names rewritten (CA A, then
    CA B, then both): the answer follows the file's content."""
    srv = fresh()
    assert get(srv, "alice", "e") == (200, ALICE_DN)
    assert get(srv, "bob", "e") == (403, "")
    srv.write_file("conf/ica-e.pem", srv.pki["issuing-b"].pem)
    assert get(srv, "alice", "e") == (403, "")
    assert get(srv, "bob", "e") == (200, BOB_DN)
    srv.write_file("conf/ica-e.pem", srv.pki["issuing-a"].pem
                   + srv.pki["issuing-b"].pem)
    assert get(srv, "alice", "e") == (200, ALICE_DN)
    assert get(srv, "bob", "e") == (200, BOB_DN)
    srv.write_file("conf/ica-e.pem", srv.pki["issuing-a"].pem)
    assert get(srv, "alice", "e") == (200, ALICE_DN)
    assert get(srv, "bob", "e") == (403, "")


@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_htaccess_edited_one_connection(fresh, http2):
    """The edit between two runs of one connection's worth of requests: the
    entry kept from before the edit answers for the new content."""
    srv = fresh()
    dirs = alternating("a", "b")
    res = curl_multi([url(srv, d) for d in dirs], cert=srv.pki["alice"], http2=http2)
    assert [(s, u) for s, _, _, u in res] == expect("alice", dirs)
    _write_htaccess(srv, "a", "ica-b.pem")
    res = curl_multi([url(srv, d) for d in dirs], cert=srv.pki["alice"], http2=http2)
    assert [(s, u) for s, _, _, u in res] == [(403, "")] * len(dirs)


# -- header mode: a trusted proxy forwards the certificate ----------------------------

def hdr(user, pki):
    return "X-SSL-Client-Cert: " + F.pem_escaped(pki[user])


@pytest.mark.parametrize("vhost,http2", [("hdr", False), ("hdrtls", False),
                                         ("hdrtls", True)],
                         ids=["http-h1", "https-h1", "https-h2"])
@pytest.mark.parametrize("user", ["alice", "bob"])
def test_header_one_connection(fresh, pki, user, vhost, http2):
    srv = fresh()
    dirs = alternating(OWN[user], OTHER[user])
    res = curl_multi([url(srv, d, vhost) for d in dirs], http2=http2,
                     headers=[hdr(user, pki)])
    assert [n for _, _, n, _ in res] == [1] + [0] * (len(dirs) - 1), res
    assert [(s, u) for s, _, _, u in res] == expect(user, dirs)


def test_header_pooled_connection_users_and_directories(fresh, pki):
    """A proxy's pooled connection carries alice and bob in turn, to both
    directories: every answer is the one of that user and directory."""
    srv = fresh()
    seq = [("alice", "a"), ("alice", "b"), ("bob", "b"), ("bob", "a"),
           ("alice", "b"), ("bob", "a"), ("alice", "a"), ("bob", "b"),
           ("alice", "b"), ("alice", "a"), ("bob", "a"), ("bob", "b")]
    reqs = [("/ica/%s/page.html" % d, [hdr(u, pki)]) for u, d in seq]
    got = http_keepalive(srv.port("hdr"), reqs)
    want = [expect(u, [d])[0] for u, d in seq]
    assert got == want


def test_header_htaccess_edited(fresh, pki):
    """The edit between two requests of one pooled connection, and seen on a
    new connection too."""
    srv = fresh()
    path = "/ica/a/page.html"
    alice, bob = (path, [hdr("alice", pki)]), (path, [hdr("bob", pki)])
    got = http_keepalive(srv.port("hdr"), [
        alice, bob, alice,
        lambda: _write_htaccess(srv, "a", "ica-b.pem"),
        alice, bob, alice, bob,
        lambda: _write_htaccess(srv, "a", "ica-a.pem"),
        alice, bob])
    assert got == [(200, ALICE_DN), (403, ""), (200, ALICE_DN),
                   (403, ""), (200, BOB_DN), (403, ""), (200, BOB_DN),
                   (200, ALICE_DN), (403, "")]
    _write_htaccess(srv, "a", "ica-b.pem")
    got = http_keepalive(srv.port("hdr"), [alice, bob] * 2)
    assert got == [(403, ""), (200, BOB_DN)] * 2
