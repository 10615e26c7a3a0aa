"""The reference documentation keeps up with the code (no server is started).

* docs/directives.md has an entry for every directive the module registers
  (the AP_INIT_* table of src/x509authn_config.c), in the httpd manual's
  form: a heading that is the directive's name, then a field table with
  Description, Syntax, Default, Context, Override, Status, Module, then the
  text and at least one example (a code block with a line that uses the
  directive).  Context and Override must say what the table's flags say:
  OR_AUTHCFG is "directory, .htaccess" with Override AuthConfig, RSRC_CONF
  "server config, virtual host" (only "server config" when the setter
  refuses anything but the main server with GLOBAL_ONLY), Override None.
* docs/troubleshooting.md has a row (meaning, typical cause, fix) for every
  X509Annnn tag the code logs (X509A_LOGNO(nnnn) in the C sources, or
  "X509Annnn: " printed to stderr), and no
  row for a tag the code no longer logs.
"""

import glob
import os
import re

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_C = os.path.join(TOP, "src", "x509authn_config.c")
DIRECTIVES_MD = os.path.join(TOP, "docs", "directives.md")
TROUBLE_MD = os.path.join(TOP, "docs", "troubleshooting.md")
FIELDS = ("Description", "Syntax", "Default", "Context", "Override", "Status",
          "Module")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# -- the directive table ------------------------------------------------------

def setter_bodies(src):
    """Function name -> its body, for the setters in the file."""
    bodies = {}
    for m in re.finditer(r"^static const char \*(\w+)\(.*?\n\{\n(.*?)\n\}\n",
                         src, re.S | re.M):
        bodies[m.group(1)] = m.group(2)
    return bodies


def registered_directives(src=None):
    """[(name, kind, setter, flags)] from the command_rec table, with the
    RULE() macro expanded from its own definition."""
    src = src if src is not None else read(CONFIG_C)
    table = src[src.index("const command_rec x509authn_cmds[]"):]
    macros = {}
    for m in re.finditer(r"#define (\w+)\(name, \w+, help\)\s*\\\s*AP_INIT_(\w+)"
                         r"\(name,\s*(\w+),.*?,[\s\\]*([A-Z_]+(?:\s*\|\s*[A-Z_]+)*)"
                         r",\s*help\)", src, re.S):
        macros[m.group(1)] = (m.group(2), m.group(3), m.group(4))
    out = []
    for m in re.finditer(r"\bAP_INIT_(\w+)\(\s*\"(\w+)\"\s*,\s*(\w+)\s*,(.*?),"
                         r"\s*([A-Z_]+(?:\s*\|\s*[A-Z_]+)*)\s*,\s*\"", table, re.S):
        out.append((m.group(2), m.group(1), m.group(3), m.group(5)))
    for name, (kind, setter, flags) in macros.items():
        for m in re.finditer(r"\b%s\(\s*\"(\w+)\"" % name, table):
            out.append((m.group(1), kind, setter, flags))
    return out


def expected_context(setter, flags, bodies):
    flags = {f.strip() for f in flags.split("|")}
    ctx = set()
    if flags & {"RSRC_CONF", "OR_ALL"}:
        ctx |= {"server config", "virtual host"}
    if flags & {"ACCESS_CONF", "OR_AUTHCFG", "OR_OPTIONS", "OR_FILEINFO",
                "OR_INDEXES", "OR_LIMIT", "OR_ALL"}:
        ctx.add("directory")
    if flags & {"OR_AUTHCFG", "OR_OPTIONS", "OR_FILEINFO", "OR_INDEXES",
                "OR_LIMIT", "OR_ALL"}:
        ctx.add(".htaccess")
    if "GLOBAL_ONLY" in bodies.get(setter, ""):
        ctx &= {"server config"}
    override = "AuthConfig" if "OR_AUTHCFG" in flags else "None"
    return ctx, override


# -- docs/directives.md ---------------------------------------------------------

def split_cells(line):
    cells = re.split(r"(?<!\\)\|", line.strip())
    return [c.strip().replace("\\|", "|") for c in cells[1:-1]]


def directive_entries(text):
    """Directive name -> (fields dict, section text after the table, count)."""
    lines = text.split("\n")
    heads = [(i, len(m.group(1)), m.group(2)) for i, ln in enumerate(lines)
             for m in [re.match(r"^(#{1,6}) +(.+?)\s*$", ln)] if m]
    entries = {}
    for n, (i, level, title) in enumerate(heads):
        if not re.fullmatch(r"X509Authn\w*", title):
            continue
        end = len(lines)
        for j, lv, _ in heads[n + 1:]:
            if lv <= level:
                end = j
                break
        body = lines[i + 1:end]
        k = 0
        while k < len(body) and not body[k].strip():
            k += 1
        fields = {}
        while k < len(body) and body[k].lstrip().startswith("|"):
            cells = split_cells(body[k])
            if len(cells) >= 2 and not re.fullmatch(r"-+", cells[0].strip(":- ")
                                                    or "-"):
                fields[cells[0].rstrip(":").strip("* ")] = cells[1]
            k += 1
        prev = entries.get(title)
        entries[title] = (fields, "\n".join(body[k:]), (prev[2] + 1) if prev else 1)
    return entries


def code_lines(section):
    """Lines of the section's code blocks (fenced or indented 4 spaces)."""
    out, fenced = [], False
    for ln in section.split("\n"):
        if ln.strip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or ln.startswith("    "):
            out.append(ln.strip())
    return out


def check_directive_docs(src, text):
    """Every problem with the documentation of the registered directives."""
    bodies = setter_bodies(src)
    entries = directive_entries(text)
    problems = []
    registered = registered_directives(src)
    for name, kind, setter, flags in registered:
        if name not in entries:
            problems.append("%s: no entry (a '## %s' heading and field table)"
                            % (name, name))
            continue
        fields, rest, count = entries[name]
        if count > 1:
            problems.append("%s: %d entries" % (name, count))
        for f in FIELDS:
            if not fields.get(f, "").strip():
                problems.append("%s: field %s missing or empty" % (name, f))
        syntax = fields.get("Syntax", "").strip("` ")
        if syntax and not syntax.startswith(name + " "):
            problems.append("%s: Syntax does not start with the name: %r"
                            % (name, syntax))
        if kind == "FLAG" and "On|Off" not in syntax:
            problems.append("%s: a flag, Syntax should say On|Off" % name)
        if kind == "ITERATE" and "..." not in syntax:
            problems.append("%s: takes a list, Syntax should say ..." % name)
        if kind in ("TAKE12", "TAKE23", "TAKE123") and "[" not in syntax:
            problems.append("%s: has an optional argument, Syntax should "
                            "show it in [ ]" % name)
        ctx, override = expected_context(setter, flags, bodies)
        doc_ctx = {c.strip() for c in fields.get("Context", "").split(",")
                   if c.strip()}
        if fields.get("Context") and doc_ctx != ctx:
            problems.append("%s: Context says %s, the code (%s%s) %s"
                            % (name, ", ".join(sorted(doc_ctx)), flags,
                               ", GLOBAL_ONLY" if "GLOBAL_ONLY" in
                               bodies.get(setter, "") else "",
                               ", ".join(sorted(ctx))))
        if fields.get("Override") and fields["Override"].strip() != override:
            problems.append("%s: Override says %r, the code %r"
                            % (name, fields["Override"], override))
        if fields.get("Status") and fields["Status"].strip() != "External":
            problems.append("%s: Status is not External" % name)
        if fields.get("Module") and fields["Module"].strip() != "mod_x509authn":
            problems.append("%s: Module is not mod_x509authn" % name)
        prose = [ln for ln in rest.split("\n")
                 if ln.strip() and not ln.startswith("    ")
                 and not ln.strip().startswith("```")]
        if not prose:
            problems.append("%s: no text after the field table" % name)
        if not any(re.match(r"%s(\s|$)" % name, ln) for ln in code_lines(rest)):
            problems.append("%s: no example (a code block using it)" % name)
    names = {r[0] for r in registered}
    for name in entries:
        if name not in names:
            problems.append("%s: documented but not registered" % name)
    return problems


def test_directive_table_is_parsed():
    """The parser sees the whole table (a changed table layout must not
    make the next test pass vacuously)."""
    src = read(CONFIG_C)
    names = [r[0] for r in registered_directives(src)]
    assert len(names) == src.count("AP_INIT_") - 1 + len(
        re.findall(r"\bRULE\(\s*\"", src)), names
    assert len(names) == len(set(names))
    assert len(names) >= 30
    for must in ("X509Authn", "X509AuthnRequireSubject", "X509AuthnCache"):
        assert must in names


def test_every_directive_documented():
    problems = check_directive_docs(read(CONFIG_C), read(DIRECTIVES_MD))
    assert not problems, "docs/directives.md:\n  " + "\n  ".join(problems)


def _drop_entry(text, name):
    """The text without the heading and field table of `name`."""
    return re.sub(r"(?m)^(#+) %s\n(\n?\|.*\n)+" % name, "", text)


def test_docs_check_can_fail():
    """The check finds a missing entry, a missing field, a wrong Context."""
    src, text = read(CONFIG_C), read(DIRECTIVES_MD)
    gone = _drop_entry(text, "X509AuthnUserMapRequired")
    assert any(p.startswith("X509AuthnUserMapRequired: no entry")
               for p in check_directive_docs(src, gone))
    no_default = re.sub(r"(?m)^(#+ X509AuthnHeaderMaxSize\n\n(?:\|.*\n)*?)"
                        r"\| Default: \|.*\n", r"\1", text)
    assert no_default != text
    assert "X509AuthnHeaderMaxSize: field Default missing or empty" in \
        check_directive_docs(src, no_default)
    wrong_ctx = re.sub(r"(?m)^(#+ X509AuthnCacheTimeout\n\n(?:\|.*\n)*?"
                       r"\| Context: \|) server config", r"\1 server config, "
                       "virtual host", text)
    assert wrong_ctx != text
    assert any(p.startswith("X509AuthnCacheTimeout: Context says")
               for p in check_directive_docs(src, wrong_ctx))
    # a new directive in the table without docs
    more = src.replace('    {NULL}\n};', '    AP_INIT_TAKE1("X509AuthnNew", '
                       'set_cache_timeout, NULL, RSRC_CONF,\n                  '
                       '"new"),\n    {NULL}\n};')
    assert "X509AuthnNew: no entry (a '## X509AuthnNew' heading and field " \
        "table)" in check_directive_docs(more, text)


# -- docs/troubleshooting.md -------------------------------------------------

def code_tags():
    """Tag -> files logging it, from X509A_LOGNO(nnnn) in the C sources."""
    tags = {}
    files = [os.path.join(TOP, "mod_x509authn.c")]
    files += glob.glob(os.path.join(TOP, "src", "*.c"))
    files += glob.glob(os.path.join(TOP, "lib", "*.c"))
    for path in files:
        # X509A_LOGNO(nnnn), and the tags printed straight to stderr
        # ("X509Annnn: ..." in a string, configtest's regex messages)
        for m in re.finditer(r'X509A_LOGNO\((\d{4})\)|"X509A(\d{4}): ', read(path)):
            tags.setdefault("X509A" + (m.group(1) or m.group(2)), set()).add(
                os.path.relpath(path, TOP))
    return tags


def doc_tags(text):
    """Tag -> cells of its troubleshooting table row."""
    rows = {}
    for ln in text.split("\n"):
        if not ln.lstrip().startswith("|"):
            continue
        cells = split_cells(ln)
        if cells:
            m = re.fullmatch(r"`?(X509A\d{4})`?", cells[0])
            if m:
                rows[m.group(1)] = cells
    return rows


def check_tags(tags, text):
    rows = doc_tags(text)
    problems = []
    for tag in sorted(tags):
        if tag not in rows:
            problems.append("%s (logged in %s): no row" % (
                tag, ", ".join(sorted(tags[tag]))))
        elif len(rows[tag]) < 5 or not all(c.strip() for c in rows[tag][:5]):
            problems.append("%s: the row needs level, meaning, typical cause "
                            "and fix" % tag)
    for tag in sorted(rows):
        if tag not in tags:
            problems.append("%s: a row, but the code no longer logs it" % tag)
    return problems


def test_every_log_tag_documented():
    tags = code_tags()
    assert len(tags) >= 30
    problems = check_tags(tags, read(TROUBLE_MD))
    assert not problems, "docs/troubleshooting.md:\n  " + "\n  ".join(problems)


def test_tag_check_can_fail():
    tags, text = code_tags(), read(TROUBLE_MD)
    gone = re.sub(r"(?m)^\| `?X509A0304`? \|.*\n", "", text)
    assert gone != text
    assert any(p.startswith("X509A0304 (logged in src/x509authn_header.c): no row")
               for p in check_tags(tags, gone))
    more = dict(tags)
    more["X509A0999"] = {"src/new.c"}
    assert "X509A0999 (logged in src/new.c): no row" in check_tags(more, text)


@pytest.mark.parametrize("page", sorted(glob.glob(os.path.join(TOP, "docs", "*.md"))),
                         ids=os.path.basename)
def test_doc_links_resolve(page):
    """Relative links between the pages (docs/, conf-examples/) exist."""
    text = read(page)
    missing = []
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        if not os.path.exists(os.path.join(os.path.dirname(page), target)):
            missing.append(target)
    assert not missing, missing


# -- migration guides ---------------------------------------------------------------

MIGRATE_PAGES = sorted(glob.glob(os.path.join(TOP, "docs", "migrate-*.md")))


def test_migration_pages_exist():
    names = {os.path.basename(p) for p in MIGRATE_PAGES}
    assert names >= {"migrate-mod_ssl.md", "migrate-nginx.md", "migrate-iis.md",
                     "migrate-keycloak.md", "migrate-bigip.md"}


@pytest.mark.parametrize("page", MIGRATE_PAGES, ids=os.path.basename)
def test_migration_blocks_are_tested_examples(page):
    """Every line of a configuration block (```apache, ```nginx) in a guide
    is in a conf-examples/migrate-* file, which test_migrations.py runs:
    the guides show nothing that was not run."""
    tested = set()
    for path in glob.glob(os.path.join(TOP, "conf-examples", "migrate-*")):
        tested |= {ln.strip() for ln in read(path).split("\n")}
    text = read(page)
    blocks = re.findall(r"```(?:apache|nginx)\n(.*?)```", text, re.S)
    assert blocks, "no configuration block"
    untested = [ln.strip() for b in blocks for ln in b.split("\n")
                if ln.strip() and ln.strip() not in tested]
    assert not untested, untested
    assert re.search(r"\]\(\.\./conf-examples/migrate-[^)]+\)", text)


def test_every_migration_example_is_run():
    src = read(os.path.join(TOP, "tests", "integration", "test_migrations.py"))
    for path in glob.glob(os.path.join(TOP, "conf-examples", "migrate-*")):
        assert '"%s"' % os.path.basename(path) in src, path


# -- the directive examples ----------------------------------------------------------

def test_directive_examples_pass_configtest(workroot, pki, module_so):
    """Each directive's example, in a <Location> where its Context is a
    directory, passes apache2 -t with the module loaded (file names pointed
    at the test PKI)."""
    import subprocess
    from httpd import APACHE2, MODDIR, httpd_env
    d = os.path.join(workroot, "directive-examples")
    os.makedirs(os.path.join(d, "ca.d"), exist_ok=True)
    secret = os.path.join(d, "cache.secret")
    with open(secret, "w") as f:
        f.write("ab" * 40 + "\n")

    def paths(text):
        def repl(m):
            base = os.path.basename(m.group(0))
            if base.endswith(".secret"):
                return secret
            if base.endswith(".map"):
                return os.path.join(TOP, "conf-examples", "partners.map")
            if "crl" in base:
                return pki.crl_bundle
            if base.endswith(".d"):
                return os.path.join(d, "ca.d")
            if "issuing" in base:
                return pki["issuing-a"].cert
            return pki.ca_bundle
        text = re.sub(r"/etc/[A-Za-z0-9_./-]+", repl, text)
        # directories the server writes (X509AuthnCRLCacheDir)
        return re.sub(r"/var/cache/[A-Za-z0-9_./-]+", d, text)

    modules = ["mpm_event", "authz_core", "authz_user", "authn_core", "auth_basic",
               "ldap", "authnz_ldap", "headers", "socache_shmcb"]
    failures = []
    for name, (fields, rest, _) in sorted(directive_entries(read(DIRECTIVES_MD)).items()):
        m = re.search(r"Example:\n\n((?:    .*\n|\n)+)", rest + "\n")
        assert m, name
        ex = paths("\n".join(ln[4:] for ln in m.group(1).split("\n")))
        if fields.get("Context", "").startswith("directory") and "<Location" not in ex:
            ex = "<Location /x/>\n%s\n</Location>" % ex
        conf = os.path.join(d, "httpd.conf")
        with open(conf, "w") as f:
            f.write('ServerRoot "%s"\nServerName x\nErrorLog "%s/error.log"\n'
                    'DefaultRuntimeDir "%s"\n' % (d, d, d))
            for mod in modules:
                f.write("LoadModule %s_module %s/mod_%s.so\n" % (mod, MODDIR, mod))
            f.write('LoadModule x509authn_module "%s"\n%s\n'
                    % (module_so, ex.replace("/usr/lib/apache2/modules", MODDIR)))
        p = subprocess.run([APACHE2, "-t", "-f", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60, env=httpd_env())
        if p.returncode != 0:
            failures.append("%s: %s" % (name, p.stdout.decode(errors="replace")))
    assert not failures, "\n".join(failures)
