"""user, group, initgroups: which ids the workers run as, and how a worker drops to them before it imports the app."""

import grp
import os
import pwd


class OwnerError(Exception):
    """An unknown user or group; `setting` names which."""

    def __init__(self, setting, message):
        Exception.__init__(self, message)
        self.setting = setting


class UnreadablePython(Exception):
    """The interpreter's files are out of the new user's reach."""


def wanted(settings):
    return settings["user"] not in (None, "") or settings["group"] not in (None, "")


def resolve(user, group):
    """(uid, gid, user name or None) for the settings. Names must exist; numeric ids are taken as given.

    Without `group`, a named user's primary group (gunicorn would keep the arbiter's group, root's
    when it runs as root); without `user`, the current user.
    """
    uid, name, primary = os.geteuid(), None, None
    if user not in (None, ""):
        text = str(user).strip()
        if text.isdigit():
            uid = int(text)
            entry = _getpwuid(uid)
        else:
            try:
                entry = pwd.getpwnam(text)
            except KeyError:
                raise OwnerError("user", "no such user: %r" % text)
            uid = entry.pw_uid
        if entry is not None:
            name, primary = entry.pw_name, entry.pw_gid
    else:
        entry = _getpwuid(uid)
        name = entry.pw_name if entry is not None else None
    if group not in (None, ""):
        text = str(group).strip()
        if text.isdigit():
            gid = int(text)
        else:
            try:
                gid = grp.getgrnam(text).gr_gid
            except KeyError:
                raise OwnerError("group", "no such group: %r" % text)
    elif primary is not None:
        gid = primary
    else:
        gid = os.getegid()
    return uid, gid, name


def _getpwuid(uid):
    try:
        return pwd.getpwuid(uid)
    except KeyError:
        return None


def drop(settings, owned_paths=()):
    """Switches this process to the configured user and group (after it opened what it needs).

    Files in `owned_paths` (the log files) are given to that user first, as gunicorn does, so that
    reopening them on USR1 still works. Supplementary groups: the user's with `initgroups`, else none.
    """
    if not wanted(settings):
        return
    uid, gid, name = resolve(settings["user"], settings["group"])
    if uid == os.geteuid() and gid == os.getegid() and os.geteuid() != 0:
        return  # nothing to change, and no right to change groups anyway
    for path in owned_paths:
        try:
            os.chown(path, uid, gid)
        except OSError:
            pass
    if os.geteuid() == 0:
        if settings["initgroups"] and name:
            os.initgroups(name, gid)
        else:
            os.setgroups([])
    if gid != os.getgid() or gid != os.getegid():
        os.setgid(gid)
    if uid != os.getuid() or uid != os.geteuid():
        os.setuid(uid)
    stdlib = os.path.dirname(os.__file__)
    if not os.access(stdlib, os.R_OK | os.X_OK):
        # Modules imported from now on (the app's, the loop's) would fail with a puzzling ModuleNotFoundError.
        raise UnreadablePython("user %s cannot read the Python standard library in %s — install Python where that user "
                              "can read it (e.g. /usr/bin/python3 or a virtualenv outside /root) and name it with --python"
                              % (name or uid, stdlib))
