"""Small purpose-made PKIs for single test modules, with the openssl CLI.

pki.py builds the shared test PKI; some tests need hierarchies of their
own (two roots cross-signing one key, CAs with policy constraints, delta
CRLs).  ``MiniPKI(dir)`` issues them with ``openssl ca`` as pki.py does, so
they are what a real CA produces:

    m = MiniPKI(tmpdir)
    m.ca("r1", "/CN=Root 1")                         self-signed
    m.ca("a2", "/CN=A", issuer="r1", key="a1")       another CA, a1's key
    m.leaf("alice", "/CN=alice", issuer="a2")
    m.crl("a2", "a2.crl.pem", number=10, ext=["freshestCRL = URI:http://x"])
    m["alice"].bundle                                leaf + issuers up to a root
"""

import datetime
import hashlib
import os

from pki import CA_CONF, EXT_HEAD, _gentime, _run, pem_to_der

CLIENT = ["basicConstraints = critical, CA:FALSE",
          "keyUsage = critical, digitalSignature",
          "extendedKeyUsage = clientAuth"]
CA = ["basicConstraints = critical, CA:TRUE",
      "keyUsage = critical, keyCertSign, cRLSign"]


class MiniCert:
    def __init__(self, m, name, cn):
        self.name = name
        self.cn = cn
        self.cert = os.path.join(m.dir, name + ".crt")
        self.key = os.path.join(m.dir, name + ".key")
        self.bundle = os.path.join(m.dir, name + ".bundle.pem")
        with open(self.cert) as f:
            self.pem = f.read()
        self.der = pem_to_der(self.pem)
        self.sha256 = hashlib.sha256(self.der).hexdigest().upper()

    def __repr__(self):
        return "<MiniCert %s>" % self.name


class MiniPKI:
    def __init__(self, dir):
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        self.issuer = {}
        self.certs = {}
        self.now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        self.serial = 0x100

    def __getitem__(self, name):
        return self.certs[name]

    def path(self, name):
        return os.path.join(self.dir, name)

    def _dates(self, which):
        d = datetime.timedelta
        if isinstance(which, tuple):    # (start, end) as datetimes
            return which
        return {
            None: (self.now - d(days=2), self.now + d(days=3650)),
            "expired": (self.now - d(days=730), self.now - d(days=365)),
        }[which]

    def _cadir(self, name):
        cd = os.path.join(self.dir, "ca-" + name)
        if not os.path.isdir(cd):
            os.makedirs(os.path.join(cd, "newcerts"))
            open(os.path.join(cd, "index.txt"), "w").close()
            with open(os.path.join(cd, "crlnumber"), "w") as f:
                f.write("01\n")
            with open(os.path.join(cd, "openssl.cnf"), "w") as f:
                f.write(CA_CONF.format(dir=cd))
        return cd

    def _issue(self, name, subj, issuer, key, ext, dates):
        keyfile = os.path.join(self.dir, name + ".key")
        if key:
            with open(os.path.join(self.dir, key + ".key")) as src, \
                    open(keyfile, "w") as dst:
                dst.write(src.read())
        else:
            _run(["genpkey", "-algorithm", "EC", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-out", keyfile])
        signer = issuer or name
        cd = self._cadir(signer)
        conf = os.path.join(cd, "openssl.cnf")
        csr = os.path.join(self.dir, name + ".csr")
        _run(["req", "-new", "-config", conf, "-utf8", "-key", keyfile,
              "-subj", subj, "-out", csr])
        self.serial += 1
        with open(os.path.join(cd, "serial"), "w") as f:
            f.write("%04X\n" % self.serial)
        extfile = os.path.join(self.dir, name + ".ext")
        with open(extfile, "w") as f:
            f.write("[ ext ]\n" + EXT_HEAD + "\n".join(ext) + "\n")
        span = self._dates(dates)
        args = ["ca", "-batch", "-config", conf, "-notext", "-preserveDN",
                "-in", csr, "-out", os.path.join(self.dir, name + ".crt"),
                "-extfile", extfile, "-extensions", "ext",
                "-startdate", _gentime(span[0]), "-enddate", _gentime(span[1])]
        if issuer is None:
            args += ["-selfsign", "-keyfile", keyfile]
        _run(args)
        os.unlink(csr)
        os.unlink(extfile)
        self.issuer[name] = issuer
        # leaf + issuers up to (not including) the self-signed root
        chain, cur = [name], issuer
        while cur is not None and self.issuer.get(cur) is not None:
            chain.append(cur)
            cur = self.issuer[cur]
        self.cat(name + ".bundle.pem", *chain)
        cn = subj.rsplit("CN=", 1)[-1].split("/")[0]
        self.certs[name] = MiniCert(self, name, cn)
        return self.certs[name]

    def ca(self, name, subj, issuer=None, key=None, ext=(), dates=None):
        """A CA; `key` reuses the key of an earlier certificate."""
        c = self._issue(name, subj, issuer, key, CA + list(ext), dates)
        cd = self._cadir(name)
        for src, dst in ((name + ".crt", "ca.crt"), (name + ".key", "ca.key")):
            with open(os.path.join(self.dir, src)) as f, \
                    open(os.path.join(cd, dst), "w") as g:
                g.write(f.read())
        return c

    def leaf(self, name, subj, issuer, ext=(), dates=None):
        return self._issue(name, subj, issuer, None, CLIENT + list(ext), dates)

    def revoke(self, ca, name):
        _run(["ca", "-batch", "-config",
              os.path.join(self._cadir(ca), "openssl.cnf"), "-revoke",
              os.path.join(self.dir, name + ".crt"), "-crl_reason",
              "keyCompromise"])

    def crl(self, ca, out, number, ext=(), last_update=None, next_update=None):
        """A CRL of `ca` (what it revoked so far) with cRLNumber `number`
        and the extra CRL extension lines `ext`; thisUpdate a day ago and
        nextUpdate in 30 days unless given (datetimes)."""
        last_update = last_update or self.now - datetime.timedelta(days=1)
        next_update = next_update or self.now + datetime.timedelta(days=30)
        cd = self._cadir(ca)
        with open(os.path.join(cd, "crlnumber"), "w") as f:
            f.write("%02X\n" % number)
        # CRL extensions come from the -config file (not -extfile)
        conf = os.path.join(self.dir, out + ".cnf")
        with open(conf, "w") as f:
            f.write(CA_CONF.format(dir=cd) + "\n[ crl_x ]\n"
                    "authorityKeyIdentifier = keyid:always\n"
                    + "\n".join(ext) + "\n")
        _run(["ca", "-batch", "-config", conf, "-gencrl", "-crlexts", "crl_x",
              "-crl_lastupdate", _gentime(last_update),
              "-crl_nextupdate", _gentime(next_update),
              "-out", os.path.join(self.dir, out)])
        os.unlink(conf)
        return os.path.join(self.dir, out)

    def cat(self, out, *names):
        """A file of the named certificates' PEM (or of files given by
        path), in order."""
        text = ""
        for n in names:
            p = n if os.path.isabs(n) else os.path.join(self.dir, n + ".crt")
            with open(p) as f:
                text += f.read()
        path = os.path.join(self.dir, out)
        with open(path, "w") as f:
            f.write(text)
        for root, dirs, files in os.walk(self.dir):
            os.chmod(root, 0o755)
            for fn in files:
                os.chmod(os.path.join(root, fn), 0o644)
        return path
