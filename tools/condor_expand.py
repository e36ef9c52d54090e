#!/usr/bin/env python3
"""Expand an HTCondor submit file per job, without a pool, and print the result as JSON.

    tools/condor_expand.py JOB.sub [--cluster N]

Parses the file with HTCondor's own submit-language parser (the PyPI `htcondor` package,
module `htcondor2`, version 25.x: `python3 -m pip install 'htcondor>=25,<26'`), reads the
`queue N` statement, and for each ProcId 0..N-1 expands the job's commands with $(ProcId) and
$(ClusterId) set. Prints

    {"queue": N, "jobs": [{"ProcId": 0, "executable": ..., "arguments": [...], ...}, ...]}

where "arguments" is the argument list the executable gets (HTCondor's new quoting rules
applied), and every other key holds the expanded text of that submit command (null when the
file does not set it). Exit status 2 when the file does not parse or its queue statement is
not `queue [N]`.
"""

import json
import sys

KEYS = [
    "universe",
    "executable",
    "arguments",
    "initialdir",
    "output",
    "error",
    "log",
    "request_cpus",
    "request_memory",
    "request_GPUs",
    "+JobFlavour",
    "should_transfer_files",
    "when_to_transfer_output",
    "transfer_input_files",
    "transfer_output_files",
    "checkpoint_exit_code",
    "transfer_checkpoint_files",
]


def split_arguments(value):
    """The argument list of an `arguments` value in HTCondor's new syntax ("..."): words are
    separated by white space, single quotes group (with '' a literal '), "" is a literal "."""
    v = value.strip()
    if not (len(v) >= 2 and v[0] == '"' and v[-1] == '"'):
        return v.split()  # old syntax: plain white-space separated words
    v = v[1:-1].replace('""', '"')
    args, cur, have, quoted, k = [], [], False, False, 0
    while k < len(v):
        c = v[k]
        if quoted:
            if c == "'":
                if k + 1 < len(v) and v[k + 1] == "'":
                    cur.append("'")
                    k += 1
                else:
                    quoted = False
            else:
                cur.append(c)
        elif c == "'":
            quoted, have = True, True
        elif c.isspace():
            if have:
                args.append("".join(cur))
                cur, have = [], False
        else:
            cur.append(c)
            have = True
        k += 1
    if quoted:
        raise ValueError("unbalanced single quote in arguments")
    if have:
        args.append("".join(cur))
    return args


def lookup_key(sub, key):
    # `+Attr = value` lines are stored as `MY.Attr`
    if key.startswith("+"):
        return "MY." + key[1:]
    for k in sub.keys():
        if k.lower() == key.lower():
            return k
    return None


def main():
    try:
        import htcondor2
    except ImportError as e:
        print(f"condor_expand: cannot import htcondor2 ({e}); python3 -m pip install 'htcondor>=25,<26'", file=sys.stderr)
        return 3
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if args else 2
    path = args[0]
    cluster = "1"
    if "--cluster" in args:
        cluster = args[args.index("--cluster") + 1]
    text = open(path).read()
    try:
        sub = htcondor2.Submit(text)
    except Exception as e:  # the parser's own error
        print(f"condor_expand: {path}: does not parse: {e}", file=sys.stderr)
        return 2
    q = (sub.getQArgs() or "").strip()
    if q == "":
        n = 1
    elif q.isdigit():
        n = int(q)
    else:
        print(f"condor_expand: {path}: unsupported queue statement 'queue {q}' (expected queue N)", file=sys.stderr)
        return 2
    jobs = []
    for proc in range(n):
        s = htcondor2.Submit(text)
        s["ClusterId"] = cluster
        s["ProcId"] = str(proc)
        job = {"ProcId": proc}
        for key in KEYS:
            k = lookup_key(s, key)
            job[key] = None if k is None else s.expand(k)
        if job["arguments"] is not None:
            job["arguments"] = split_arguments(job["arguments"])
        jobs.append(job)
    json.dump({"queue": n, "jobs": jobs}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
