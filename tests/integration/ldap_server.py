"""A real OpenLDAP slapd for the LDAP integration tests.

``Slapd`` writes its own slapd.conf (schema from /etc/ldap/schema, back_mdb
from /usr/lib/ldap), keeps its database, pid and log in a private directory,
listens only on ``ldap://127.0.0.1:PORT/`` (a free port), and is stopped
again at the end.  It never reads /etc/ldap/slapd.d, never uses the ldapi
socket or the system's ports, so a slapd of the system (if any) is not
touched.  The clients (ldapadd, ldapsearch) are run with LDAPNOINIT=1 so
/etc/ldap/ldap.conf and ~/.ldaprc do not interfere.

Debian packages: slapd, ldap-utils.  (scripts/deps.sh installs them with
policy-rc.d refusing to start the packaged service.)

Directory (DIT) used by the tests, see ``DIRECTORY``:

    dc=example,dc=com
      ou=people       alice01 (cn alice, mail alice@example.com, pw alicepw,
                      departmentNumber 4711, employeeType staff)
                      bob (mail bob@example.com, pw bobpw, 4200, contractor)
                      jmueller (cn "Juergen Mueller" with umlauts, UTF-8)
                      jsmith, and ou=contractors: a second jsmith (duplicate)
      ou=partners     partner-acme (readable only by cn=httpd,ou=services)
      ou=groups       engineers (alice01), sales (bob), staff (the group
                      engineers, nested), partners (partner-acme)
      ou=services     httpd (bind account, pw httpdpw)
    carol is not in the directory.
"""

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time

SLAPD = os.environ.get("SLAPD", "/usr/sbin/slapd")
LDAPADD = os.environ.get("LDAPADD", "ldapadd")
LDAPSEARCH = os.environ.get("LDAPSEARCH", "ldapsearch")
LDAPMODIFY = os.environ.get("LDAPMODIFY", "ldapmodify")
SCHEMA_DIR = os.environ.get("LDAP_SCHEMA_DIR", "/etc/ldap/schema")
SLAPD_MODULE_DIR = os.environ.get("SLAPD_MODULE_DIR", "/usr/lib/ldap")

SUFFIX = "dc=example,dc=com"
ROOT_DN = "cn=admin," + SUFFIX
ROOT_PW = "adminpw"
PEOPLE = "ou=people," + SUFFIX
GROUPS = "ou=groups," + SUFFIX
PARTNERS = "ou=partners," + SUFFIX
SERVICES = "ou=services," + SUFFIX
BIND_DN = "cn=httpd," + SERVICES
BIND_PW = "httpdpw"

ALICE = "uid=alice01," + PEOPLE
BOB = "uid=bob," + PEOPLE
ENGINEERS = "cn=engineers," + GROUPS
SALES = "cn=sales," + GROUPS
STAFF = "cn=staff," + GROUPS
PARTNER_GROUP = "cn=partners," + GROUPS
PARTNER_ACME = "uid=partner-acme," + PARTNERS

SLAPD_CONF = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {schema}/nis.schema

pidfile  {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath {moddir}
moduleload back_mdb

# no size limit surprises; anonymous binds allowed (the default)
sizelimit 500

database mdb
maxsize  104857600
suffix   "{suffix}"
rootdn   "{rootdn}"
rootpw   {rootpw}
directory {dir}/data

access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to dn.subtree="{partners}"
    by dn.exact="{binddn}" read
    by * none
access to *
    by * read
"""


def ssha(password, salt=b"x509salt"):
    """{SSHA} userPassword value, as slappasswd makes it."""
    h = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(h + salt).decode()


def _b64(value):
    """An LDIF attribute line for a non-ASCII value ("attr:: base64")."""
    return base64.b64encode(value.encode("utf-8")).decode()


DIRECTORY = """\
dn: {suffix}
objectClass: dcObject
objectClass: organization
dc: example
o: Example Corp

dn: {people}
objectClass: organizationalUnit
ou: people

dn: ou=contractors,{people}
objectClass: organizationalUnit
ou: contractors

dn: {groups}
objectClass: organizationalUnit
ou: groups

dn: {partners}
objectClass: organizationalUnit
ou: partners

dn: {services}
objectClass: organizationalUnit
ou: services

dn: {binddn}
objectClass: person
objectClass: simpleSecurityObject
cn: httpd
sn: httpd service account
userPassword: {bindpw_hash}

dn: {alice}
objectClass: inetOrgPerson
uid: alice01
cn: alice
sn: Alice
mail: alice@example.com
departmentNumber: 4711
employeeType: staff
userPassword: {alicepw}

dn: {bob}
objectClass: inetOrgPerson
uid: bob
cn: bob
sn: Bob
mail: bob@example.com
departmentNumber: 4200
employeeType: contractor
userPassword: bobpw

dn: uid=jmueller,{people}
objectClass: inetOrgPerson
uid: jmueller
cn:: {juergen_b64}
sn:: {mueller_b64}
mail: juergen@example.de

dn: uid=jsmith,{people}
objectClass: inetOrgPerson
uid: jsmith
cn: John Smith
sn: Smith

dn: uid=jsmith,ou=contractors,{people}
objectClass: inetOrgPerson
uid: jsmith
cn: Jane Smith
sn: Smith

dn: {partner_acme}
objectClass: inetOrgPerson
uid: partner-acme
cn: ACME partner gateway
sn: ACME

dn: {engineers}
objectClass: groupOfNames
cn: engineers
member: {alice}

dn: {sales}
objectClass: groupOfNames
cn: sales
member: {bob}

dn: {staff}
objectClass: groupOfNames
cn: staff
member: {engineers}

dn: {partner_group}
objectClass: groupOfNames
cn: partners
member: {partner_acme}
""".format(suffix=SUFFIX, people=PEOPLE, groups=GROUPS, partners=PARTNERS,
           services=SERVICES, binddn=BIND_DN, bindpw_hash=ssha(BIND_PW),
           alice=ALICE, bob=BOB, alicepw=ssha("alicepw"),
           juergen_b64=_b64("J\u00fcrgen M\u00fcller"),
           mueller_b64=_b64("M\u00fcller"),
           partner_acme=PARTNER_ACME, engineers=ENGINEERS, sales=SALES,
           staff=STAFF, partner_group=PARTNER_GROUP)


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class SlapdError(Exception):
    pass


def missing_tools():
    """Names of the programs these tests need that are not installed."""
    out = []
    for prog in (SLAPD, LDAPADD, LDAPSEARCH):
        if not shutil.which(prog):
            out.append(prog)
    if not os.path.exists(os.path.join(SLAPD_MODULE_DIR, "back_mdb.so")) \
            and not os.path.exists(os.path.join(SLAPD_MODULE_DIR, "back_mdb.la")):
        out.append(os.path.join(SLAPD_MODULE_DIR, "back_mdb.so"))
    for s in ("core", "cosine", "inetorgperson", "nis"):
        if not os.path.exists(os.path.join(SCHEMA_DIR, s + ".schema")):
            out.append(os.path.join(SCHEMA_DIR, s + ".schema"))
    return out


class Slapd:
    """One private slapd on 127.0.0.1:<free port>."""

    def __init__(self, dir, loglevel="256"):
        self.dir = os.path.abspath(dir)
        self.loglevel = loglevel
        self.proc = None
        self.port = None
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        self.conf = os.path.join(self.dir, "slapd.conf")
        self.log = os.path.join(self.dir, "slapd.log")
        with open(self.conf, "w") as f:
            f.write(SLAPD_CONF.format(schema=SCHEMA_DIR, dir=self.dir,
                                      moddir=SLAPD_MODULE_DIR, suffix=SUFFIX,
                                      rootdn=ROOT_DN, rootpw=ROOT_PW,
                                      partners=PARTNERS, binddn=BIND_DN))

    @property
    def url(self):
        return "ldap://127.0.0.1:%d" % self.port

    # -- process control -----------------------------------------------------
    def start(self, timeout=20):
        for attempt in range(3):
            self.port = _free_port()
            try:
                return self._start(timeout)
            except SlapdError as e:
                if attempt == 2 or "Address already in use" not in str(e):
                    raise

    def _start(self, timeout):
        if self.proc is not None:
            raise SlapdError("already running")
        # a check of the configuration first: a clear message when it fails
        p = subprocess.run([SLAPD, "-Tt", "-u", "-f", self.conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        if p.returncode != 0:
            raise SlapdError("slaptest failed:\n" + p.stdout.decode(errors="replace"))
        self._log = open(self.log, "ab")
        # -d keeps slapd in the foreground (no fork), logging to stderr
        self.proc = subprocess.Popen(
            [SLAPD, "-f", self.conf, "-h", "ldap://127.0.0.1:%d/" % self.port,
             "-d", self.loglevel],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            start_new_session=True)
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                self.proc = None
                self._log.close()
                raise SlapdError("slapd exited during startup:\n" + self.tail())
            rc, out = self.search("", scope="base", attrs=["namingContexts"],
                                  check=False, timeout=5)
            if rc == 0 and SUFFIX in out:
                return self
            if time.time() > deadline:
                self.stop()
                raise SlapdError("slapd did not answer in time:\n%s\n%s" % (
                    out, self.tail()))
            time.sleep(0.1)

    def stop(self):
        if self.proc is None:
            return
        try:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        finally:
            self.proc = None
            self._log.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # -- clients ---------------------------------------------------------------
    @staticmethod
    def _env():
        env = dict(os.environ)
        env["LDAPNOINIT"] = "1"     # ignore /etc/ldap/ldap.conf and ~/.ldaprc
        return env

    def _client(self, args, input=None, check=True, timeout=30):
        p = subprocess.run(args, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=self._env(),
                           timeout=timeout)
        out = p.stdout.decode("utf-8", errors="replace")
        if check and p.returncode != 0:
            raise SlapdError("%s failed (%d):\n%s" % (" ".join(args[:1]),
                                                       p.returncode, out))
        return p.returncode, out

    def add(self, ldif):
        return self._client([LDAPADD, "-x", "-H", self.url, "-D", ROOT_DN,
                             "-w", ROOT_PW], input=ldif.encode("utf-8"))

    def modify(self, ldif):
        return self._client([LDAPMODIFY, "-x", "-H", self.url, "-D", ROOT_DN,
                             "-w", ROOT_PW], input=ldif.encode("utf-8"))

    def search(self, base, filter="(objectClass=*)", scope="sub", attrs=(),
               binddn=None, password=None, check=True, timeout=30):
        """ldapsearch (anonymous unless binddn); returns (rc, LDIF text)."""
        args = [LDAPSEARCH, "-x", "-LLL", "-o", "ldif-wrap=no",
                "-H", self.url, "-s", scope, "-b", base]
        if binddn:
            args += ["-D", binddn, "-w", password]
        args += [filter] + list(attrs)
        return self._client(args, check=check, timeout=timeout)

    def load_directory(self):
        self.add(DIRECTORY)
        return self

    # -- log -------------------------------------------------------------------
    def log_mark(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def log_since(self, mark):
        try:
            with open(self.log, "rb") as f:
                f.seek(mark)
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def tail(self, n=40):
        return "\n".join(self.log_since(0).splitlines()[-n:])

    def wait_log(self, mark, needle, timeout=3.0):
        """Wait until `needle` appears in the log after `mark`."""
        deadline = time.time() + timeout
        while True:
            text = self.log_since(mark)
            if needle in text or time.time() > deadline:
                return text
            time.sleep(0.05)


def start_slapd(request, workroot, name="slapd"):
    """A running, loaded slapd, stopped at the end of the requesting
    fixture's scope."""
    import uuid
    missing = missing_tools()
    if missing:
        import pytest
        pytest.fail("LDAP tests need the Debian packages slapd and ldap-utils "
                    "(missing: %s); run scripts/deps.sh or apt-get install "
                    "slapd ldap-utils" % ", ".join(missing), pytrace=False)
    d = os.path.join(workroot, "%s-%s" % (name, uuid.uuid4().hex[:8]))
    os.makedirs(d, exist_ok=True)
    s = Slapd(d)
    request.addfinalizer(s.stop)
    s.start()
    s.load_directory()
    return s


# Modules that pair with mod_x509authn (server_extra of Httpd.start).
def ldap_modules(moddir=None):
    moddir = moddir or os.environ.get("APACHE_MODULES", "/usr/lib/apache2/modules")
    return ("LoadModule ldap_module %s/mod_ldap.so\n"
            "LoadModule authnz_ldap_module %s/mod_authnz_ldap.so\n" % (moddir, moddir))


if __name__ == "__main__":
    # manual use: start one, print its URL, wait for ^C
    import sys
    import tempfile
    d = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="slapd-")
    s = Slapd(d)
    s.start()
    s.load_directory()
    print("slapd on %s (dir %s); ^C stops it" % (s.url, d))
    try:
        while s.running():
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    s.stop()
