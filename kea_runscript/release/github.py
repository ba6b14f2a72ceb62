"""Publishing a release directory to a GitHub release (urllib, token from ``GITHUB_TOKEN``): a
draft first, then every file, then published; a published release is never changed. The token
is never printed and goes to the API's host only.

The publish job holds a token that can write releases, so it runs this module alone, with the
standard library (``python3 -S -m kea_runscript.release.github DIR --tag TAG``): nothing is
installed from PyPI there."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, Optional

from .. import PACKAGE
from ..errors import ToolkitError
from .signing import sha256_file

# --------------------------------------------------------------------------------------------
# publishing to a GitHub release


GITHUB_API = "https://api.github.com"


class PublishError(ToolkitError, RuntimeError):
    pass


def is_prerelease(version: str) -> bool:
    """A release candidate (``2.0.0-rc1``, ``2.0.0~rc1``): a GitHub pre-release, its own apt suite."""
    return any(s in version for s in "-~")


def redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def release_files(release_dir: Path) -> list:
    """What is uploaded: every regular file of the release directory, sorted."""
    if not Path(release_dir).is_dir():
        raise PublishError(f"no release directory {release_dir}: make the release first (nox -s release)")
    files = sorted(p for p in Path(release_dir).iterdir() if p.is_file() and not p.name.startswith("."))
    if not any(p.name == "SHA256SUMS" for p in files):
        raise PublishError(f"{release_dir} has no SHA256SUMS: make the release first (nox -s release)")
    return files


def publish(release_dir: Path, *, repo: str, tag: str, token: str = "", dry_run: bool = False,
            api: str = GITHUB_API, say: Callable[[str], None] = print, prerelease: bool = False) -> list:
    """Upload every file of ``release_dir`` to the GitHub release ``tag`` of ``repo``.

    The release is created as a draft, gets every file, and only then is published, so nobody
    sees it half uploaded. A draft left by an interrupted run is completed. A published
    release is never changed: holding the same files it is left as is, otherwise publishing
    fails and says which files differ. Returns the names uploaded. ``dry_run`` lists what would
    be uploaded and needs no token. The token goes to the API's host only (not along a
    redirect to another host, not to an upload URL elsewhere) and never into any message."""
    files = release_files(release_dir)
    repo_ok = bool(re.match(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", repo or ""))
    if dry_run:
        where = repo if repo_ok else "(repository not set: --repo or GITHUB_REPOSITORY)"
        say(f"dry run: would upload {len(files)} files to the GitHub release {tag} of {where}:")
        for p in files:
            say(f"  {p.name}  ({p.stat().st_size} bytes, sha256 {sha256_file(p)})")
        return [p.name for p in files]
    if not repo_ok:
        raise PublishError(f"repository {repo!r} is not owner/name (--repo or GITHUB_REPOSITORY)")
    if not token:
        raise PublishError("no GitHub token: set GITHUB_TOKEN (and --repo/GITHUB_REPOSITORY), or use --dry-run "
                           "to list what would be uploaded")
    try:
        return _publish(files, repo, tag, _Api(api.rstrip("/"), token), say, prerelease)
    except PublishError as e:
        raise PublishError(redact(str(e), token)) from None
    except (urllib.error.URLError, OSError) as e:
        raise PublishError(redact(f"talking to {api} failed: {e}", token)) from None


def _origin(url: str) -> tuple:
    u = urllib.parse.urlsplit(url)
    return u.scheme, (u.hostname or "").lower(), u.port or {"https": 443, "http": 80}.get(u.scheme)


class _SameOriginAuth(urllib.request.HTTPRedirectHandler):
    """Follows redirects, but the Authorization header only to the origin it was meant for
    (urllib copies every header to the new request, whatever its host)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            new.remove_header("Authorization")
        return new


class _Api:
    """The GitHub REST API at ``base`` with ``token``."""

    def __init__(self, base: str, token: str):
        self.base, self.token = base, token
        self.opener = urllib.request.build_opener(_SameOriginAuth)
        origin = _origin(base)
        #: where the token may go: the API, and on github.com its upload host
        self.origins = {origin} | ({("https", "uploads.github.com", 443)}
                                   if origin == ("https", "api.github.com", 443) else set())

    def request(self, method: str, url: str, data: Optional[bytes] = None,
                content_type: str = "application/json") -> tuple:
        if _origin(url) not in self.origins:
            raise PublishError(f"refusing to send the token to {urllib.parse.urlsplit(url).netloc}: "
                               f"not the API's host ({urllib.parse.urlsplit(self.base).netloc})")
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/vnd.github+json")
        req.add_header("X-GitHub-Api-Version", "2022-11-28")
        req.add_header("User-Agent", f"{PACKAGE}-release")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with self.opener.open(req, timeout=300) as r:
                body = r.read()
                return r.status, json.loads(body) if body else {}
        except urllib.error.HTTPError as e:
            body = e.read().decode("utf-8", "replace")
            try:
                answer = json.loads(body)
                detail = answer.get("message", body)
                # "Validation Failed" alone hides why: e.g. tag_name already_exists (a release
                # of that tag published meanwhile by another run).
                why = [f"{x.get('field', '?')} {x.get('code', '?')}" for x in answer.get("errors") or ()
                       if isinstance(x, dict)]
                if why:
                    detail = f"{detail} ({', '.join(why)})"
            except (ValueError, AttributeError):
                detail = body
            path = urllib.parse.urlsplit(url).path
            raise PublishError(redact(f"GitHub API {method} {path}: HTTP {e.code}: {str(detail)[:300]}",
                                      self.token)) from None

    def json(self, method: str, path: str, obj: Optional[dict] = None) -> dict:
        return self.request(method, self.base + path, json.dumps(obj).encode() if obj is not None else None)[1]


def _find_release(api: _Api, repo: str, tag: str) -> Optional[dict]:
    """The release of ``tag``, draft or not (``GET .../releases/tags/`` does not show drafts)."""
    for page in range(1, 51):
        rels = api.json("GET", f"/repos/{repo}/releases?per_page=100&page={page}")
        for rel in rels:
            if rel.get("tag_name") == tag:
                return rel
        if len(rels) < 100:
            return None
    raise PublishError(f"more than 5000 releases in {repo}; cannot tell whether {tag} exists")


def _publish(files, repo, tag, api: _Api, say, prerelease) -> list:
    rel = _find_release(api, repo, tag)
    if rel is not None and not rel.get("draft"):
        assets = {a["name"]: a for a in rel.get("assets", [])}
        problems = []
        for p in files:
            a = assets.pop(p.name, None)
            if a is None:
                problems.append(f"{p.name}: not in the published release")
            elif a.get("size") != p.stat().st_size or a.get("digest", f"sha256:{sha256_file(p)}") != f"sha256:{sha256_file(p)}":
                problems.append(f"{p.name}: differs from the published file")
        problems += [f"{name}: published, not in this release directory" for name in sorted(assets)]
        if problems:
            raise PublishError(f"the GitHub release {tag} of {repo} is already published, with other files; "
                               f"refusing to change it (make a new tag):\n  " + "\n  ".join(problems))
        say(f"the GitHub release {tag} of {repo} is already published with these files; nothing to do")
        return []
    if rel is None:
        rel = api.json("POST", f"/repos/{repo}/releases", {
            "tag_name": tag, "name": f"{PACKAGE} {tag.lstrip('v')}", "draft": True, "prerelease": prerelease,
            "body": "Prebuilt kea-hook-runscript. Debian: the apt repository (README, Installing). Otherwise "
                    "run install.sh, or pick the file for your exact Kea version, OS and architecture and "
                    "check SHA256SUMS.asc with the release key, then sha256sum -c SHA256SUMS."})
        say(f"created the draft GitHub release {tag} of {repo}")
    else:
        say(f"completing the draft GitHub release {tag} of {repo} (left by an earlier run)")
    upload = re.sub(r"\{.*\}$", "", rel["upload_url"])
    if _origin(upload) not in api.origins:
        raise PublishError(f"the release's upload URL points to {urllib.parse.urlsplit(upload).netloc}, "
                           f"not to the API's host: not sending the token there")
    # A draft is nobody's yet: replace what an earlier run uploaded, drop what is not ours.
    names = {p.name for p in files}
    for a in rel.get("assets", []):
        api.request("DELETE", f"{api.base}/repos/{repo}/releases/assets/{a['id']}")
        if a["name"] not in names:
            say(f"  removed {a['name']} from the draft (not in this release directory)")
    done = []
    for p in files:
        api.request("POST", f"{upload}?name={urllib.parse.quote(p.name)}", p.read_bytes(), "application/octet-stream")
        say(f"  uploaded {p.name} ({p.stat().st_size} bytes)")
        done.append(p.name)
    api.json("PATCH", f"/repos/{repo}/releases/{rel['id']}", {"draft": False})
    say(f"published the GitHub release {tag} of {repo} ({len(done)} files)")
    return done


def publish_from_environment(release_dir: Path, *, tag: str, repo: str = "", dry_run: bool = False,
                             prerelease: bool = False) -> list:
    """:func:`publish` with the token and repository from the environment (``GITHUB_TOKEN``,
    ``GITHUB_REPOSITORY``, ``GITHUB_API_URL`` on GitHub Enterprise runners)."""
    token = os.environ.get("GITHUB_TOKEN", "").strip()
    repo = (repo or os.environ.get("GITHUB_REPOSITORY", "")).strip()
    try:
        return publish(release_dir, repo=repo, tag=tag, token=token, dry_run=dry_run, prerelease=prerelease,
                       api=os.environ.get("GITHUB_API_URL", "").strip() or GITHUB_API)
    except PublishError as e:
        raise PublishError(redact(str(e), token)) from None  # the token never reaches a log


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -S -m kea_runscript.release.github",
                                description="upload a signed release directory to a GitHub release")
    p.add_argument("directory", type=Path)
    p.add_argument("--tag", required=True)
    p.add_argument("--repo", default="")
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args(argv)
    try:
        publish_from_environment(args.directory, tag=args.tag, repo=args.repo, dry_run=args.dry_run,
                                 prerelease=is_prerelease(args.tag))
    except PublishError as e:
        print(f"publish: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
