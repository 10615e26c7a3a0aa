"""Every file in conf-examples/ passes `apache2 -t` with the module loaded,
once its file names are pointed at the test PKI."""

import glob
import os
import re
import subprocess

import pytest

from httpd import APACHE2, MODDIR, MODULES, httpd_env

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = sorted(glob.glob(os.path.join(TOP, "conf-examples", "*.conf")))
EXTRA_MODULES = [("proxy_module", "mod_proxy.so"),
                 ("proxy_http_module", "mod_proxy_http.so"),
                 ("ssl_module", "mod_ssl.so"),
                 ("ldap_module", "mod_ldap.so"),
                 ("authnz_ldap_module", "mod_authnz_ldap.so")]


def point_at_pki(text, pki, d):
    """Replace the example's file names by files that exist."""
    def repl(m):
        path = m.group(0)
        base = os.path.basename(path)
        if path.endswith("/"):
            return d + "/"
        if base.endswith(".key"):
            return pki["server"].key
        if "crl" in base:
            return pki.crl_bundle
        if base.endswith("htpasswd"):
            return os.path.join(d, "htpasswd")
        if base.endswith(".map"):
            shipped = os.path.join(TOP, "conf-examples", base)
            return shipped if os.path.exists(shipped) else os.path.join(d, "users.map")
        if "issuing" in base:
            return pki["issuing-a"].cert
        if "ca" in base:
            return pki.ca_bundle
        return pki["server"].cert
    return re.sub(r"/etc/[A-Za-z0-9_./-]+", repl, text)


@pytest.mark.parametrize("example", EXAMPLES, ids=os.path.basename)
def test_example_passes_configtest(example, workroot, pki, module_so):
    d = os.path.join(workroot, "examples", os.path.basename(example))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "htpasswd"), "w") as f:
        f.write("")
    with open(os.path.join(d, "users.map"), "w") as f:
        f.write("# empty map\n")
    lines = ['ServerRoot "%s"' % d, "ServerName localhost",
             'Define APACHE_LOG_DIR "%s"' % d, 'Define APACHE_RUN_DIR "%s"' % d,
             'DefaultRuntimeDir "%s"' % d, 'ErrorLog "%s/error.log"' % d]
    for name, so in MODULES + EXTRA_MODULES:
        lines.append("<IfModule !%s>\nLoadModule %s %s/%s\n</IfModule>"
                     % (name, name, MODDIR, so))
    lines.append('LoadModule x509authn_module "%s"' % module_so)
    with open(example) as f:
        lines.append(point_at_pki(f.read(), pki, d))
    conf = os.path.join(d, "httpd.conf")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    p = subprocess.run([APACHE2, "-t", "-f", conf], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60, env=httpd_env())
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0 and "Syntax OK" in out, out


def test_every_example_is_tested():
    assert len(EXAMPLES) >= 10
