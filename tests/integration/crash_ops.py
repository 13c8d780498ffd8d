#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""crash_ops.py - the copy-ups of crash.sh, and the checks after the crash.

Each file of crash_image.py's image gets one action, by its number:

  append   open O_WRONLY|O_APPEND, write MARKER   (copy-up with the data)
  chmod    chmod 0640 (it was 0644)               (copy-up, metadata)
  rdwr     open O_RDWR, close, no write           (copy-up, no change)

  crash_ops.py work MNT LOG SEED N
      worker N of 4: the files whose number is N mod 4, in an order drawn
      from SEED; appends "done ACTION PATH" to LOG once the call returned
      (so the upper directory has it); stops at the first error (the
      daemon is killed under it)
  crash_ops.py check ROOT REF LOG [TREE]
      every file of the image, read through ROOT (a new mount of the same
      upper directory, or the kernel's overlayfs over it): its content is
      the old one or, for an append, the old one + MARKER - nothing in
      between; its mode 0644 or, for a chmod, 0640; and what LOG says was
      done is there; TREE: where to write the tree (as `tree` prints it)
  crash_ops.py upper UPPER REF LOG
      the upper directory itself: only the five directories and regular
      files, each a whole copy (old, or old + MARKER for an append); every
      file LOG says was done is there
  crash_ops.py tree ROOT
      path, mode, owner, size and sha256 of every entry, sorted (no times)

REF: the extracted layers (REF/l0, REF/l1); the old content of a file is the
one of the topmost layer that has it.  check and upper print one line per
problem and exit 1 if there is any; else a summary.
"""

import hashlib
import os
import random
import stat
import sys

MARKER = b"\n-- appended by crash_ops.py --\n"
ACTIONS = ("append", "chmod", "rdwr")
NEW_MODE = 0o640
OLD_MODE = 0o644
WORKERS = 4


def action(path):
    return ACTIONS[int(os.path.basename(path)[1:]) % len(ACTIONS)]


def image_files(ref):
    """{path: path of the old content} for every file of the image."""
    old = {}
    for layer in sorted(os.listdir(ref)):
        for d, _, names in os.walk(os.path.join(ref, layer)):
            for n in names:
                p = os.path.join(d, n)
                old[os.path.relpath(p, os.path.join(ref, layer))] = p
    return old


def read(p):
    with open(p, "rb") as f:
        return f.read()


def done_in(log):
    done = set()
    if os.path.exists(log):
        for line in open(log):
            w = line.split()
            if len(w) == 3 and w[0] == "done":
                done.add(w[2])
    return done


def work(mnt, log, seed, n):
    lfd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        files = [p for p in image_files_in_mount(mnt) if int(os.path.basename(p)[1:]) % WORKERS == n]
        random.Random(seed * 100 + n).shuffle(files)
        for path in files:
            p = os.path.join(mnt, path)
            a = action(path)
            if a == "append":
                fd = os.open(p, os.O_WRONLY | os.O_APPEND)
                if os.write(fd, MARKER) != len(MARKER):
                    raise OSError("short write")
                os.write(lfd, b"done %s %s\n" % (a.encode(), path.encode()))
                os.close(fd)
                continue
            if a == "chmod":
                os.chmod(p, NEW_MODE)
            else:
                os.close(os.open(p, os.O_RDWR))
            os.write(lfd, b"done %s %s\n" % (a.encode(), path.encode()))
    except OSError:
        return 0        # the daemon died under us: expected
    finally:
        os.close(lfd)
    return 0


def image_files_in_mount(mnt):
    return sorted("d%d/%s" % (d, n) for d in range(5) for n in os.listdir(os.path.join(mnt, "d%d" % d)))


def verdict(path, got, oldp, problems, where):
    """'old' or 'new' if GOT is one of the two allowed contents, else None."""
    old = read(oldp)
    if got == old:
        return "old"
    if action(path) == "append" and got == old + MARKER:
        return "new"
    problems.append("%s%s: %d bytes, neither the old content (%d bytes)%s%s" % (
        where, path, len(got), len(old),
        " nor the old content + the marker" if action(path) == "append" else "",
        " - a prefix of the old content: a truncated copy" if old.startswith(got) else ""))
    return None


def tree_line(root, p, st, data=None):
    line = "%s %o %d:%d" % (os.path.relpath(p, root), st.st_mode, st.st_uid, st.st_gid)
    if stat.S_ISREG(st.st_mode):
        if data is None:
            data = read(p)
        line += " %d %s" % (st.st_size, hashlib.sha256(data).hexdigest())
    return line


def check(root, ref, log, tree_out=None):
    old = image_files(ref)
    lines = [tree_line(root, os.path.join(root, "d%d" % d), os.lstat(os.path.join(root, "d%d" % d)))
             for d in range(5)]
    done = done_in(log)
    problems = []
    counts = {}
    got_names = set(image_files_in_mount(root))
    if got_names != set(old):
        problems.append("names differ: missing %s, extra %s" % (
            sorted(set(old) - got_names), sorted(got_names - set(old))))
    for path in sorted(old):
        p = os.path.join(root, path)
        try:
            st = os.lstat(p)
            got = read(p)
        except OSError as e:
            problems.append("%s: %s" % (path, e))
            continue
        lines.append(tree_line(root, p, st, got))
        v = verdict(path, got, old[path], problems, "")
        a = action(path)
        mode = stat.S_IMODE(st.st_mode)
        if a == "chmod":
            v = "new" if mode == NEW_MODE else "old" if mode == OLD_MODE else None
            if v is None:
                problems.append("%s: mode %o" % (path, mode))
        elif mode != OLD_MODE:
            problems.append("%s: mode %o, never changed" % (path, mode))
        if path in done and a != "rdwr" and v != "new":
            problems.append("%s: the %s returned before the crash, yet it shows the old state" % (
                path, a))
        counts[(a, v)] = counts.get((a, v), 0) + 1
    if tree_out:
        with open(tree_out, "w") as f:
            f.write("".join(line + "\n" for line in sorted(lines)))
    for p in problems:
        print(p)
    if not problems:
        print(" ".join("%s:%s=%d" % (a, v, n) for (a, v), n in sorted(counts.items())))
    return 1 if problems else 0


def upper(up, ref, log):
    old = image_files(ref)
    done = done_in(log)
    problems = []
    copied = 0
    for d, dirs, names in os.walk(up):
        rd = os.path.relpath(d, up)
        for n in dirs:
            if rd != "." or n not in ("d0", "d1", "d2", "d3", "d4"):
                problems.append("unexpected directory %s in the upper dir" % os.path.join(rd, n))
        for n in names:
            path = os.path.normpath(os.path.join(rd, n))
            p = os.path.join(d, n)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode) or path not in old:
                problems.append("unexpected %o %s in the upper dir" % (stat.S_IFMT(st.st_mode), path))
                continue
            copied += 1
            verdict(path, read(p), old[path], problems, "upper dir: ")
            mode = stat.S_IMODE(st.st_mode)
            if mode not in (OLD_MODE, NEW_MODE if action(path) == "chmod" else OLD_MODE):
                problems.append("upper dir: %s: mode %o" % (path, mode))
    for path in sorted(done):
        if not os.path.isfile(os.path.join(up, path)):
            problems.append("%s: the %s returned before the crash, yet it is not in the upper dir" % (
                path, action(path)))
    for p in problems:
        print(p)
    if not problems:
        print("%d whole copies in the upper dir" % copied)
    return 1 if problems else 0


def tree(root):
    out = []
    for d, dirs, names in os.walk(root):
        for n in dirs + names:
            p = os.path.join(d, n)
            out.append(tree_line(root, p, os.lstat(p)))
    for line in sorted(out):
        print(line)
    return 0


def main():
    mode = sys.argv[1]
    if mode == "work":
        return work(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    if mode == "check":
        return check(sys.argv[2], sys.argv[3], sys.argv[4], (sys.argv[5:] or [None])[0])
    if mode == "upper":
        return upper(sys.argv[2], sys.argv[3], sys.argv[4])
    if mode == "tree":
        return tree(sys.argv[2])
    print("usage: see the docstring", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
