"""Fixtures for the mod_x509authn integration tests.

Environment:
    MODULE_SO      the module under test (default: .libs/mod_x509authn.so of
                   the repository, else build/ci/.libs/mod_x509authn.so)
    APACHE2        the httpd binary (default /usr/sbin/apache2)
    X509A_TEST_DIR work directory to use (kept); default a fresh /tmp dir,
                   removed at the end unless X509A_KEEP=1
"""

import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pki import PKI  # noqa: E402
from httpd import default_module_so, REGISTRY  # noqa: E402
import services  # noqa: E402


@pytest.fixture(scope="session")
def workroot():
    fixed = os.environ.get("X509A_TEST_DIR")
    if fixed:
        os.makedirs(fixed, exist_ok=True)
        d = fixed
    else:
        d = tempfile.mkdtemp(prefix="x509authn-it-")
    # httpd's children run as www-data: every directory must be traversable.
    os.chmod(d, 0o755)
    yield d
    if not fixed and not os.environ.get("X509A_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def pki(workroot):
    p = PKI(os.path.join(workroot, "pki"))
    os.environ["X509A_TEST_ROOT_CA"] = p.cert("root").cert
    return p


@pytest.fixture(scope="session")
def module_so():
    path = os.path.abspath(os.environ.get("MODULE_SO") or default_module_so())
    if not os.path.exists(path):
        pytest.fail("module under test not found: %s (build it, or set MODULE_SO)"
                    % path, pytrace=False)
    return path


# -- show the server logs of a failed test ------------------------------------

@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(autouse=True)
def _server_logs_on_failure(request):
    marks = [(h, h.log_mark(), h.log_mark("access"))
             for h in list(REGISTRY) + list(services.REGISTRY)]
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is None or not rep.failed:
        return
    for h, em, am in marks:
        err = h.log_since(em)[-6000:]
        acc = h.log_since(am, "access")[-3000:]
        if err or acc:
            request.node.add_report_section(
                "call", "%s %s" % (getattr(h, "name", "httpd"), os.path.basename(h.dir)),
                "error log:\n%s\naccess log:\n%s" % (err, acc))


@pytest.fixture(scope="session")
def loopback_aliases():
    """127.0.0.2 .. 127.0.0.4 must be usable as source addresses (Linux routes
    all of 127.0.0.0/8 to lo): 127.0.0.2 is the untrusted peer, nginx binds to
    127.0.0.3 and HAProxy to 127.0.0.4.  Fails (never skips) otherwise."""
    for addr in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        try:
            services.check_loopback_source(addr)
        except services.ServiceError as e:
            pytest.fail(str(e), pytrace=False)
    return True


# -- sanitizer reports of a sanitized module -----------------------------------

def pytest_sessionfinish(session, exitstatus):
    """With X509A_HTTPD_PRELOAD (a module built with sanitizers), any
    AddressSanitizer/UndefinedBehaviorSanitizer report fails the run, even
    one from a child process whose request looked fine."""
    if not os.environ.get("X509A_HTTPD_PRELOAD"):
        return
    import glob
    prefix = os.environ.get("X509A_SANITIZER_LOG", "/tmp/x509authn-sanitizer")
    reports = sorted(glob.glob(prefix + ".*"))
    if reports:
        for path in reports:
            with open(path, errors="replace") as f:
                sys.stderr.write("\n==== %s\n%s" % (path, f.read()[-6000:]))
        sys.stderr.write("\nsanitizer reports: %d\n" % len(reports))
        session.exitstatus = 1
