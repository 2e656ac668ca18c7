"""`massaged -n` as root checks as the user the daemon runs as (issue 27,
massaged(8)): with -u USER, or, on the installed configuration (a file in
/etc/massaged), as the user massaged when it exists, as the units run the
daemon. Its token file is the daemon user's (0600): a check as root
refuses it, and no suggestion says `chown root`, which would lock the
daemon out of its own token.

The daemon's user here is massaged when the machine has one (a package
test may have made it), else nobody. No user of the machine is changed:
the installed-configuration case runs in a private mount namespace
(tests/isolate.sh) whose /etc/massaged is a tmpfs and whose /etc/passwd
and /etc/group are copies with a scratch massaged user when there is none.
"""

import grp
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from daemon import REPO, Daemon

NO_SIM = [1, 2]
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0,
                               reason="needs root to check as another user")
ISOLATE = os.path.join(REPO, "tests", "isolate.sh")


def service_user():
    """(name, uid, gid): massaged if the machine has it, else nobody."""
    for name in ("massaged", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        return name, pw.pw_uid, pw.pw_gid
    pytest.skip("neither a massaged nor a nobody user")


def group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


@pytest.fixture
def table():
    """A Daemon's files (not started) in a directory every user may walk
    through: pytest's own tmp_path is root's alone."""
    top = tempfile.mkdtemp(prefix="massaged-checkas-", dir="/tmp")
    os.chmod(top, 0o755)
    try:
        yield Daemon(top, NO_SIM, start=False)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def check(d, *args, **kw):
    r = subprocess.run([d.binary, "-n", "-f", d.config_path] + list(args),
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60, cwd=d.tmpdir, **kw)
    return r.returncode, r.stdout + r.stderr


@ROOT_ONLY
def test_as_the_daemons_user_its_token_passes_where_root_refuses(table):
    d = table
    user, uid, gid = service_user()
    os.chown(d.token_path, uid, gid)
    os.chmod(d.token_path, 0o600)

    rc, out = check(d, "-u", user)
    assert rc == 0, out
    assert "checking as user %s, as -u says\n" % user in out, out
    assert "configuration OK" in out, out

    # The same files checked as root: its token is someone else's. The
    # suggestion gives it to the daemon's user, never to root.
    rc, out = check(d)
    assert rc == 1, out
    assert "checking as user" not in out, out
    assert ("token file %s: refused: the file is owned by uid %d, not by "
            "root or the daemon's user (uid 0)" % (d.token_path, uid)) \
        in out, out
    if user == "massaged":
        hint = "massaged is the daemon's user: check as it, massaged -n -u " \
            "massaged)"
    else:
        hint = ("if the daemon runs as %s, check as that user: massaged -n "
                "-u %s; else give it to the daemon's user: chown "
                "massaged:massaged %s)" % (user, user, d.token_path))
    assert hint in out, out
    assert "chown root" not in out, out


@ROOT_ONLY
def test_as_the_daemons_user_a_token_of_root_is_refused_with_its_chown(table):
    """A token file root made (0600): the daemon's user cannot read it,
    and -n says so as that user would, with the chown that fixes it."""
    d = table
    user, uid, gid = service_user()
    rc, out = check(d, "-u", user)
    assert rc == 1, out
    owner = "%s:%s" % (user, group_name(gid))
    assert ("token file %s: cannot open: Permission denied (read here as "
            "user %s: a daemon that runs as %s must own it: chown %s %s; "
            "chmod 600 %s)" % (d.token_path, user, user, owner, d.token_path,
                               d.token_path)) in out, out
    assert "chown root" not in out, out


@ROOT_ONLY
def test_as_the_daemons_user_with_dialout_as_the_units_add_it(table):
    """SupplementaryGroups=dialout: a file only dialout may read is read."""
    try:
        dialout = grp.getgrnam("dialout").gr_gid
    except KeyError:
        pytest.skip("no dialout group")
    d = table
    user, uid, gid = service_user()
    if dialout in os.getgrouplist(user, gid):
        pytest.skip("%s is in dialout already" % user)
    os.chown(d.token_path, uid, gid)
    path = os.path.join(d.profile_dir, "standard.ini")
    os.chown(path, 0, dialout)
    os.chmod(path, 0o640)
    rc, out = check(d, "-u", user)
    assert rc == 0 and "configuration OK" in out, out
    # Without the group the same file cannot be read: the check did read
    # it through dialout.
    os.chown(path, 0, 0)
    rc, out = check(d, "-u", user)
    assert rc == 1 and "%s: cannot open: Permission denied" % path in out, out


def test_u_goes_with_n_and_names_a_user(table):
    d = table
    r = subprocess.run([d.binary, "-u", "nobody", "-f", d.config_path],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "-u goes with -n" in r.stderr, r.stderr
    rc, out = check(d, "-u", "no-such-user-of-massaged")
    assert rc == 2, out
    assert "-u no-such-user-of-massaged: no such user" in out, out


@ROOT_ONLY
def test_only_root_checks_as_another_user(table):
    d = table
    user, uid, gid = service_user()
    rc, out = check(d, "-u", "root", user=uid, group=gid, extra_groups=[])
    assert rc == 2, out
    assert ("-u root: only root can check as another user (this runs as "
            "uid %d)" % uid) in out, out


# The installed configuration, in a namespace of its own: a scratch
# massaged user when the machine has none, the table file copied into the
# namespace's /etc/massaged (a tmpfs), checked as root, with -u root, and
# as another user (nobody: setpriv).
NAMESPACE_SCRIPT = r'''
set -eu
[ "${MASSAGED_ISOLATED:-}" = 1 ] || exit 77
if ! getent passwd massaged >/dev/null; then
	cp /etc/passwd "$T/passwd"
	cp /etc/group "$T/group"
	echo "massaged:x:$SVC_UID:$SVC_GID:scratch:/nonexistent:/usr/sbin/nologin" \
	    >>"$T/passwd"
	echo "massaged:x:$SVC_GID:" >>"$T/group"
	mount --bind "$T/passwd" /etc/passwd
	mount --bind "$T/group" /etc/group
fi
cp "$CONFIG" /etc/massaged/massaged.ini
chmod 0644 /etc/massaged/massaged.ini
echo "== default"
"$MASSAGED" -n -f /etc/massaged/massaged.ini 2>&1 || echo "exit $?"
echo "== as root"
"$MASSAGED" -n -f /etc/massaged/massaged.ini -u root 2>&1 || echo "exit $?"
echo "== as nobody"
setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$MASSAGED" -n -f /etc/massaged/massaged.ini 2>&1 || echo "exit $?"
'''


def free_id():
    """A uid and gid of no user and no group of this machine."""
    for n in range(64990, 60000, -1):
        try:
            pwd.getpwuid(n)
            continue
        except KeyError:
            pass
        try:
            grp.getgrgid(n)
            continue
        except KeyError:
            return n
    pytest.skip("no free uid")


@ROOT_ONLY
def test_installed_configuration_is_checked_as_massaged(table):
    d = table
    try:
        pw = pwd.getpwnam("massaged")
        uid, gid = pw.pw_uid, pw.pw_gid
    except KeyError:
        uid = gid = free_id()
    os.chown(d.token_path, uid, gid)
    env = dict(os.environ, T=d.tmpdir, CONFIG=d.config_path,
               MASSAGED=d.binary, SVC_UID=str(uid), SVC_GID=str(gid))
    r = subprocess.run([ISOLATE, "sh", "-c", NAMESPACE_SCRIPT],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=120, env=env)
    if r.returncode == 77:
        pytest.skip("no private mount namespace (tests/isolate.sh): "
                    + r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    default, rest = out.split("== as root\n")
    as_root, as_nobody = rest.split("== as nobody\n")
    assert "checking as user massaged, as the service runs\n" in default, \
        out
    assert "configuration OK" in default and "exit" not in default, out
    # -u root: as root, the token file of massaged is refused, and the
    # way out is never chown root.
    assert "checking as user" not in as_root, out
    assert "exit 1" in as_root, out
    assert ("token file %s: refused: the file is owned by uid %d"
            % (d.token_path, uid)) in as_root, out
    assert "chown root" not in as_root, out
    # As another user, massaged's token cannot be read: check as massaged,
    # not a chown to that user or to root.
    assert "checking as user" not in as_nobody, out
    assert "exit 1" in as_nobody, out
    assert ("token file %s: cannot open: Permission denied (it is the "
            "daemon's user's, massaged: check as that user, sudo massaged -n "
            "-u massaged)" % d.token_path) in as_nobody, out
    assert "chown" not in as_nobody, out
