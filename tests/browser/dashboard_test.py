#!/usr/bin/env python3
"""The dashboard in a real browser (headless Chromium from Debian, driven by Selenium and Debian's
chromium-driver) against a real three-agent mesh on loopback, with replication factor 2 so that one
node does not own the project under test. For the owner and for that node it checks: login, the
fleet lists the fixture projects with their scores, the project page shows the eight checks and
findings with file:line, an audit triggered through the API updates the open page without a
reload, a viewer of another team sees nothing of this one, no console error and no request to a
host other than loopback. Over plain HTTP it checks the session cookie, CSRF, the CSP, ETags, gzip,
the badge and the public page. Screenshots go to .build/test-artifacts/dashboard/.

Run by `make test` after the Swift tests (which build .build/debug/guardian);
GUARDIAN_TEST_BINARY picks another binary.
"""
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from polling import Fatal, eventually, expect  # noqa: E402

BINARY = os.environ.get("GUARDIAN_TEST_BINARY", os.path.join(ROOT, ".build", "debug", "guardian"))
ARTIFACTS = os.path.join(ROOT, ".build", "test-artifacts", "dashboard")
FAST = {"GUARDIAN_PROBE_INTERVAL_MS": "200", "GUARDIAN_PUSH_PULL_SECONDS": "2", "GUARDIAN_REPLICATION_FACTOR": "2",
        "GUARDIAN_ANTI_ENTROPY_SECONDS": "5"}


class Agent:
    def __init__(self, root, name, key, join=None):
        self.name = name
        self.data = os.path.join(root, name)
        self.log = self.data + ".log"
        env = dict(os.environ, XDG_CACHE_HOME=self.data + "-cache", GUARDIAN_ALLOWED_LOCAL_ROOTS=root, **FAST)
        args = [BINARY, "agent", "--data-dir", self.data, "--http-addr", "127.0.0.1:0", "--name", name,
                "--gossip-addr", "127.0.0.1:0", "--cluster-key", key, "--no-discovery", "--log-level", "warning"]
        if join:
            args += ["--join", join]
        self.proc = subprocess.Popen(args, stdout=open(self.log, "w"), stderr=subprocess.STDOUT, env=env)
        self.port = int(eventually(f"{name} to listen", lambda: self._match(r"listening on http://127\.0\.0\.1:(\d+)"), 60))
        self.gossip = eventually(f"{name} to gossip", lambda: self._match(r"mesh gossip on (\S+)"), 30)
        self.token = open(os.path.join(self.data, "admin.token")).read().strip()

    def _match(self, pattern):
        if self.proc.poll() is not None:
            raise Fatal(f"{self.name} exited: {open(self.log).read()[-2000:]}")
        m = re.search(pattern, open(self.log).read())
        return m.group(1) if m else None

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def request(self, method, path, body=None, token=None, headers=None, form=None):
        """(status, headers as a lower-cased dict with Set-Cookie values joined by newlines, body bytes); no redirect followed."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        tok = self.token if token is None else token
        if tok:
            h["Authorization"] = f"Bearer {tok}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        out = {}
        for k, v in r.getheaders():
            k = k.lower()
            out[k] = out[k] + "\n" + v if k in out else v
        payload = r.read()
        c.close()
        return r.status, out, payload

    def json(self, method, path, body=None, token=None):
        status, _, payload = self.request(method, path, body=body, token=token)
        return status, (json.loads(payload) if payload else {})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def git(repo, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="Dev", GIT_AUTHOR_EMAIL="dev@example.com", GIT_COMMITTER_NAME="Dev",
               GIT_COMMITTER_EMAIL="dev@example.com")
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True, env=env).stdout.strip()


def fixture(root, name, body):
    repo = os.path.join(root, name)
    os.makedirs(os.path.join(repo, "app"))
    subprocess.run(["git", "init", "-q", "-b", "main", repo], check=True)
    with open(os.path.join(repo, "app", "main.py"), "w") as f:
        f.write(body)
    with open(os.path.join(repo, "README.md"), "w") as f:
        f.write(f"# {name}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "feat: first")
    return repo


def cookie_value(headers, name):
    for line in headers.get("set-cookie", "").split("\n"):
        if line.startswith(name + "="):
            return line.split(";")[0].split("=", 1)[1], line
    return None, None


def login_http(agent, secret):
    """A session cookie for `secret`, through the login form with its CSRF cookie and field."""
    status, headers, page = agent.request("GET", "/ui/login", token="")
    expect(status == 200, f"login form: {status}")
    login_cookie, _ = cookie_value(headers, "guardian_login")
    field = re.search(rb'name="csrf" value="([0-9a-f]+)"', page).group(1).decode()
    expect(login_cookie == field, "the login form's CSRF field and cookie match")
    status, headers, _ = agent.request("POST", "/ui/login", token="", headers={"Cookie": f"guardian_login={login_cookie}"},
                                       form={"token": secret, "csrf": field, "next": "/ui/"})
    expect(status == 303, f"login answers 303, not {status}")
    value, line = cookie_value(headers, "guardian_session")
    expect(value, f"login sets a session cookie: {headers}")
    return value, line


def http_checks(owner, other, project, maintainer, beta_viewer, beta_project):
    status, headers, _ = other.request("GET", "/", token="")
    expect(status == 303 and headers.get("location") == "/ui/", f"/ redirects to /ui/: {status} {headers}")
    status, headers, _ = other.request("GET", "/ui/", token="")
    expect(status == 303 and headers["location"].startswith("/ui/login"), f"/ui/ without a session goes to login: {status}")
    status, headers, _ = other.request("GET", "/ui/login", token="")
    csp = headers.get("content-security-policy", "")
    expect("default-src 'none'" in csp and "script-src 'self'" in csp, f"a strict CSP: {csp}")
    # a wrong CSRF token and an unknown API token are refused
    status, _, _ = other.request("POST", "/ui/login", token="", headers={"Cookie": "guardian_login=" + "a" * 64},
                                 form={"token": maintainer, "csrf": "b" * 64})
    expect(status == 403, f"a login whose CSRF field does not match its cookie is 403, not {status}")
    session, line = login_http(other, maintainer)
    expect("HttpOnly" in line and "SameSite=Strict" in line and "Secure" not in line, f"session cookie attributes over http: {line}")
    cookie = {"Cookie": f"guardian_session={session}"}
    status, _, _ = other.request("POST", f"/ui/projects/{project}/audit", token="", headers=cookie, form={"csrf": "0" * 64})
    expect(status == 403, f"a form post without the session's CSRF token is 403, not {status}")
    status, headers, page = other.request("GET", "/ui/", token="", headers=dict(cookie, **{"Accept-Encoding": "gzip"}))
    expect(status == 200 and headers.get("content-encoding") == "gzip", f"the fleet is gzipped when accepted: {status} {headers}")
    status, headers, css = other.request("GET", "/ui/assets/style.css", token="")
    etag = headers.get("etag")
    expect(status == 200 and etag, "assets carry an ETag")
    status, _, _ = other.request("GET", "/ui/assets/style.css", token="", headers={"If-None-Match": etag})
    expect(status == 304, f"a matching If-None-Match is 304, not {status}")
    # the badge: private until the team's profile says public_dashboard
    status, _, _ = other.request("GET", f"/v1/projects/{project}/badge.svg", token="")
    expect(status == 404, f"a private team's badge is 404 without a caller, not {status}")
    status, headers, svg = other.request("GET", f"/v1/projects/{project}/badge.svg", token="", headers=cookie)
    expect(status == 200 and b"guardian" in svg and headers["content-type"].startswith("image/svg+xml"), f"badge for a session: {status}")
    status, _, _ = other.request("GET", "/ui/public/alpha", token="")
    expect(status == 404, f"no public page before the team allows it: {status}")
    status, _ = other.json("PUT", "/v1/teams/alpha", {"name": "alpha", "strictness": 0.5, "public_dashboard": True})
    expect(status == 200, f"team alpha made public: {status}")
    status, _, page = eventually("alpha's public page", lambda: (lambda r: r if r[0] == 200 else None)(owner.request("GET", "/ui/public/alpha", token="")), 30)
    expect(b"alpha-app" in page and b"fileline" not in page and b"<form" not in page, "the public page lists the project, read only, with no findings")
    status, _, _ = other.request("GET", f"/v1/projects/{project}/badge.svg", token="")
    expect(status == 200, f"a public team's badge is public: {status}")
    # a viewer of team beta learns nothing of alpha
    beta_session, _ = login_http(other, beta_viewer)
    beta = {"Cookie": f"guardian_session={beta_session}"}
    status, _, page = other.request("GET", "/ui/", token="", headers=beta)
    expect(status == 200 and b"alpha-app" not in page and b"beta-app" in page, "beta's fleet shows beta's project and not alpha's")
    for path in [f"/ui/projects/{project}", "/ui/teams/alpha", f"/v1/projects/{project}/overview"]:
        status, _, _ = other.request("GET", path, token="" if path.startswith("/ui") else beta_viewer, headers=beta if path.startswith("/ui") else None)
        expect(status == 404, f"{path} is 404 for a viewer of beta, not {status}")
    # logout ends the session on the server
    status, _, page = other.request("GET", "/ui/", token="", headers=cookie)
    csrf = re.search(rb'name="csrf" value="([0-9a-f]+)"', page).group(1).decode()
    status, _, _ = other.request("POST", "/ui/logout", token="", headers=cookie, form={"csrf": csrf})
    expect(status == 303, f"logout: {status}")
    status, headers, _ = other.request("GET", "/ui/", token="", headers=cookie)
    expect(status == 303 and headers["location"].startswith("/ui/login"), "after logout the cookie opens nothing")
    print("http checks passed")


def browser(javascript=True):
    options = Options()
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--disable-extensions"]:
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def requested_hosts(driver):
    hosts = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if url.startswith("http"):
                hosts.add(urllib.parse.urlparse(url).hostname)
    return hosts


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def browser_checks(driver, agent, label, project, repo, maintainer, beta_viewer, any_node):
    shot = lambda name: driver.save_screenshot(os.path.join(ARTIFACTS, f"{label}-{name}.png"))
    driver.get_log("browser")  # what an earlier run logged (its expected 404) is not this run's
    driver.delete_all_cookies()
    driver.get(agent.base + "/ui/login")
    driver.find_element(By.ID, "token").send_keys(maintainer)
    shot("login")
    driver.find_element(By.CSS_SELECTOR, "form[action='/ui/login'] button").click()
    eventually("the fleet after login", lambda: driver.current_url.rstrip("/").endswith("/ui"), 20)
    # every read of a live page happens inside a poll: the script may swap the content at any time,
    # and an element of the content swapped out goes stale

    def alpha_row():
        for r in driver.find_elements(By.CSS_SELECTOR, "#fleet tbody tr"):
            if "alpha-app" in r.text and re.search(r"\b\d{1,3}\b", r.find_elements(By.CSS_SELECTOR, "td")[1].text):
                return [c.text for c in r.find_elements(By.CSS_SELECTOR, "td.cell")], r.find_element(By.CSS_SELECTOR, "th a").get_attribute("href")
        return None
    cells, link = eventually("alpha's row with a score", alpha_row, 30)
    expect(len(cells) == 8 and all(c.strip() for c in cells), f"eight check cells with text: {cells}")
    shot("fleet")
    driver.get(link)

    def project_page():
        checks = driver.find_elements(By.CSS_SELECTOR, "table.checks tbody tr")
        locations = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "code.fileline")]
        return (len(checks), locations, len(driver.find_elements(By.CSS_SELECTOR, "pre.code .hit"))) if checks else None
    count, locations, hits = eventually("the project page", project_page, 30)
    expect(count == 8, f"the eight checks, not {count}")
    expect(any(re.fullmatch(r"app/main\.py:\d+", l) for l in locations), f"findings with file:line: {locations[:5]}")
    expect(hits > 0, "the code line of a finding is shown")
    shot("project")
    # an audit of a new commit, triggered through the API on another node, shows without a reload
    with open(os.path.join(repo, "app", "extra.py"), "w") as f:
        f.write(f"def helper_{label}(x):\n    return eval(x)\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"feat: {label}")
    commit = git(repo, "rev-parse", "HEAD")
    driver.execute_script("window.__guardianNoReload = 42;")
    eventually("the live stream to open", lambda: driver.find_element(By.ID, "live-state").text == "live", 20)
    status, body = any_node.json("POST", f"/v1/projects/{project}/audits")
    expect(status == 202, f"audit through the API: {status} {body}")
    eventually("the page to show the new commit", lambda: commit in driver.find_element(By.ID, "main").text, 60)
    expect(driver.execute_script("return window.__guardianNoReload;") == 42, "the page updated without a reload")
    shot("project-updated")
    driver.get(agent.base + "/ui/mesh")
    eventually("the mesh page's three members", lambda: len(driver.find_elements(By.CSS_SELECTOR, "table.members tbody tr")) == 3, 20)
    shot("mesh")
    driver.get(agent.base + "/ui/teams/alpha")
    eventually("the team page's project", lambda: "alpha-app" in driver.find_element(By.ID, "main").text, 20)
    shot("team")
    errors = console_errors(driver)
    expect(not errors, f"no console error: {errors}")
    # a viewer of another team
    driver.delete_all_cookies()
    driver.get(agent.base + "/ui/login")
    driver.find_element(By.ID, "token").send_keys(beta_viewer)
    driver.find_element(By.CSS_SELECTOR, "form[action='/ui/login'] button").click()
    eventually("beta's fleet", lambda: "beta-app" in driver.find_element(By.ID, "main").text, 20)
    expect("alpha" not in driver.find_element(By.TAG_NAME, "body").text, "a viewer of beta sees nothing of alpha")
    shot("other-team-fleet")
    driver.get(agent.base + f"/ui/projects/{project}")
    source = driver.page_source
    expect("Not available" in source and "The eight checks" not in source and "app/main.py" not in source,
           "alpha's page is not there for beta (the answer of a project that does not exist)")
    shot("other-team-project")
    hosts = requested_hosts(driver)
    expect(hosts <= {"127.0.0.1"}, f"requests only to loopback: {hosts}")
    print(f"browser checks passed on {label} ({agent.name})")


def no_script_checks(agent, project, maintainer):
    """With JavaScript off, every page still works: log in, filter and sort the fleet with the
    form and the header links, open the project, filter its findings, dismiss one."""
    driver = browser(javascript=False)
    shot = lambda name: driver.save_screenshot(os.path.join(ARTIFACTS, f"no-script-{name}.png"))
    try:
        driver.get(agent.base + "/ui/login")
        driver.find_element(By.ID, "token").send_keys(maintainer)
        driver.find_element(By.CSS_SELECTOR, "form[action='/ui/login'] button").click()
        eventually("the fleet after login, without script", lambda: driver.current_url.rstrip("/").endswith("/ui"), 20)
        expect(driver.find_element(By.ID, "live-state").text == "", "the live script did not run")
        driver.find_element(By.CSS_SELECTOR, "select[name='team'] option[value='alpha']").click()
        driver.find_element(By.CSS_SELECTOR, "form.filters button").click()
        # each read happens inside the poll: an element of the page being left goes stale
        texts = eventually("the filtered fleet", lambda: "team=alpha" in driver.current_url and
                           [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#fleet tbody tr[data-project]")], 20)
        expect(all("alpha" in t for t in texts), f"the filter form works without script: {texts}")
        driver.find_element(By.LINK_TEXT, "Health").click()
        eventually("sorting by a header link", lambda: "sort=health" in driver.current_url and driver.find_elements(By.CSS_SELECTOR, "th[aria-sort]"), 20)
        shot("fleet")
        driver.get(agent.base + f"/ui/projects/{project}")
        expect(len(driver.find_elements(By.CSS_SELECTOR, "table.checks tbody tr")) == 8, "the eight checks without script")
        driver.find_element(By.CSS_SELECTOR, "select[name='severity'] option[value='critical']").click()
        driver.find_element(By.CSS_SELECTOR, "form.filters[action='#findings'] button").click()
        severities = eventually("the findings filter", lambda: "severity=critical" in driver.current_url and
                                [e.text for e in driver.find_elements(By.CSS_SELECTOR, "article.finding .badge[class*='sev-']")], 20)
        expect(all(s == "critical" for s in severities), f"the findings filter: {severities}")
        shot("project")
        forms = driver.find_elements(By.CSS_SELECTOR, "form.dismiss")
        expect(forms, "a maintainer sees a dismiss form")
        forms[0].find_element(By.CSS_SELECTOR, "button").click()
        eventually("the form to dismiss one finding", lambda: len(agent.json("GET", f"/v1/projects/{project}/dismissals")[1].get("items", [])) == 1, 20)
        print("no-script checks passed")
    finally:
        driver.quit()


def main():
    os.makedirs(ARTIFACTS, exist_ok=True)
    expect(os.access(BINARY, os.X_OK), f"no guardian binary at {BINARY}: run `swift build` first")
    root = tempfile.mkdtemp(prefix="guardian-dashboard-")
    agents = []
    driver = None
    try:
        key = subprocess.run([BINARY, "keygen"], check=True, capture_output=True, text=True).stdout.strip()
        a = Agent(root, "n1", key)
        agents.append(a)
        agents.append(Agent(root, "n2", key, join=a.gossip))
        agents.append(Agent(root, "n3", key, join=a.gossip))

        def all_alive():
            for x in agents:
                status, body = x.json("GET", "/v1/members")
                if status != 200 or sorted(m["name"] for m in body["members"] if m["status"] == "alive") != ["n1", "n2", "n3"]:
                    return False
            return True
        eventually("three alive members on every node", all_alive, 60)
        repo = fixture(root, "alpha", "import os\n\n\ndef run(request):\n    os.system(request.path)\n")
        beta_repo = fixture(root, "beta", "import subprocess\n\n\ndef go(cmd):\n    subprocess.call(cmd, shell=True)\n")
        status, p = a.json("POST", "/v1/projects", {"name": "alpha-app", "repositoryUrl": repo, "team": "alpha", "scheduleSeconds": 0})
        expect(status == 201, f"register alpha: {status} {p}")
        status, q = a.json("POST", "/v1/projects", {"name": "beta-app", "repositoryUrl": beta_repo, "team": "beta", "scheduleSeconds": 0})
        expect(status == 201, f"register beta: {status} {q}")
        project = p["id"]
        status, owners = a.json("GET", f"/v1/projects/{project}/owners")
        owner_names = owners["owners"]
        expect(len(owner_names) == 2, f"two owners: {owners}")
        owner = next(x for x in agents if x.name == owner_names[0])
        other = next(x for x in agents if x.name not in owner_names)
        # every node lists both projects with a last audit time: the summaries replicate to all
        for x in agents:
            eventually(f"{x.name} to list both projects as audited",
                       lambda x=x: all(i.get("lastAuditAt") for i in x.json("GET", "/v1/projects")[1].get("items", [])) and
                       len(x.json("GET", "/v1/projects")[1]["items"]) == 2, 90)
        _, m = a.json("POST", "/v1/tokens", {"role": "maintainer", "team": "alpha"})
        _, v = a.json("POST", "/v1/tokens", {"role": "viewer", "team": "beta"})
        maintainer, beta_viewer = m["token"], v["token"]
        eventually("the tokens on every node", lambda: all(x.request("GET", "/v1/projects", token=beta_viewer)[0] == 200 for x in agents), 30)
        http_checks(owner, other, project, maintainer, beta_viewer, q["id"])
        driver = browser()
        browser_checks(driver, owner, "owner", project, repo, maintainer, beta_viewer, any_node=other)
        browser_checks(driver, other, "non-owner", project, repo, maintainer, beta_viewer, any_node=owner)
        no_script_checks(other, project, maintainer)
        print("dashboard browser test passed; screenshots in", ARTIFACTS)
    except Exception:
        for x in agents:
            print(f"--- {x.name} log (tail) ---\n" + open(x.log).read()[-3000:], file=sys.stderr)
        raise
    finally:
        if driver:
            driver.quit()
        for x in agents:
            x.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
