#!/usr/bin/env python3
"""The invariants of a scripts/fleet run, checked against the database and
the records the jobs and the alert command left. Prints each with its counts;
exits 1 on any violation (printing the seed). Standard library only: the
database is read with the `mariadb` client."""
import argparse, bisect, collections, glob, os, re, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--fleet", required=True)
ap.add_argument("--admin", required=True)
ap.add_argument("--replica", action="store_true")
ap.add_argument("--seed", required=True)
ap.add_argument("--paused-at", type=float, required=True)
ap.add_argument("--tick", type=int, required=True)
ap.add_argument("--dead", default="")
ap.add_argument("--workers", type=int, required=True)
a = ap.parse_args()
dead = set(a.dead.split())
FINAL = {"succeeded", "failed", "timeout", "cancelled", "lost", "skipped", "passed"}
FAILURE = {"failed", "timeout", "lost"}
violations = []


def sql(q):
    out = subprocess.run(["mariadb", f"--defaults-file={a.admin}", "octo", "-N", "-B", "-e", q],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def check(name, bad, detail):
    """Records a violation for each item of `bad`; prints the invariant with its counts."""
    mark = "ok " if not bad else "FAIL"
    print(f"  [{mark}] {name}: {detail}" + ("" if not bad else f"; {len(bad)} violation(s)"))
    for b in bad[:10]:
        print(f"         - {b}")
    violations.extend(bad)


def lines(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


print(f"fleet check (seed {a.seed})")

# --- runs: every due fire has exactly one run chain, ending in a final state ---------------
jobs = {r[0]: {"schedule": r[1], "created": float(r[2]), "strategy": r[3]}
        for r in sql("SELECT name, schedule, UNIX_TIMESTAMP(created_at), strategy FROM jobs")}
runs = sql("SELECT id, job_name, UNIX_TIMESTAMP(fire_time), attempt, route_key, state, trigger_kind, "
           "COALESCE(cursor_in, ''), COALESCE(cursor_out, '') , COALESCE(machine, '') FROM runs")
chains = collections.defaultdict(dict)
bad_dupes, bad_open, bad_chain = [], [], []
for rid, job, fire, attempt, route, state, trig, cin, cout, machine in runs:
    # keyed exactly: scheduled fires are whole seconds, a manual run's fire is the moment it was asked for
    # (microseconds, possibly within half a second of a scheduled one), and its retries keep it
    key = (job, float(fire), route)
    if int(attempt) in chains[key]:
        bad_dupes.append(f"{job} fire {fire} route {route!r} attempt {attempt} twice")
    chains[key][int(attempt)] = (int(rid), state)
    # a waiting run may stay, while what it needs has not succeeded (the diamond's checks below)
    if state not in FINAL and state != "waiting" and job != "foreign":
        bad_open.append(f"run {rid} of {job} still {state}")
for (job, fire, route), attempts in chains.items():
    n = max(attempts)
    if sorted(attempts) != list(range(1, n + 1)):
        bad_chain.append(f"{job} fire {fire}: attempts {sorted(attempts)}")
    for k in range(1, n):
        if attempts[k][1] not in FAILURE:
            bad_chain.append(f"{job} fire {fire}: attempt {k} is {attempts[k][1]} but attempt {k + 1} exists")
missing = []
expected_count = 0
for job, j in jobs.items():
    m = re.fullmatch(r"@every (\d+)s", j["schedule"])
    if not m:
        continue
    every = int(m[1])
    have = {fire for (jb, fire, _route) in chains if jb == job}
    t = (int(j["created"]) // every + 1) * every
    while t <= a.paused_at - 2 * a.tick:
        expected_count += 1
        if t not in have:
            missing.append(f"{job}: no run for the fire at {t}")
        t += every
check("every (job, fire) has exactly one run per attempt", bad_dupes, f"{len(runs)} runs in {len(chains)} chains")
check("no run left queued or running after the drain", bad_open, f"{len(runs)} runs")
check("each chain: attempts 1..n, retries only after failures", bad_chain, f"{len(chains)} chains")
check("no due fire missing", missing, f"{expected_count} fires due while the fleet ran")
# the faults kill consumers and job processes, never a guard: every run that ended by itself has its status
ended = sql("SELECT id, job_name, COALESCE(machine, ''), LEFT(reason, 100), exit_code IS NULL AND exit_signal IS NULL FROM runs "
            "WHERE state IN ('succeeded', 'failed') AND started_at IS NOT NULL")
check("every run that ended by itself has its exit code or signal", [f"run {r[0]} of {r[1]} on {r[2]}: {r[3]}" for r in ended if r[4] == "1"],
      f"{len(ended)} runs")

sources_all = {r[0] for r in sql("SELECT source FROM alert_sources")}

# --- the diamond: dia-a → dia-b, dia-c → dia-d, b failing at random, reruns with --downstream and passes ---------
NEEDS = {"dia-b": ["dia-a"], "dia-c": ["dia-a"], "dia-d": ["dia-b", "dia-c"]}
OK = {"succeeded", "passed"}
dia = collections.defaultdict(list)  # (job, fire) -> [(id, attempt, state, started, ended)]
for rid, job, fire, attempt, state, started, ended in sql(
        "SELECT id, job_name, UNIX_TIMESTAMP(fire_time), attempt, state, UNIX_TIMESTAMP(started_at), "
        "UNIX_TIMESTAMP(ended_at) FROM runs WHERE job_name LIKE 'dia-%' ORDER BY id"):
    dia[(job, float(fire))].append((int(rid), int(attempt), state,
                                    None if started == "NULL" else float(started), None if ended == "NULL" else float(ended)))
# a fire of the root that was not run (skipped: its previous run was still queued or running, concurrency forbid)
# has no period below it; every other one brings a run of each follower
root_fires = sorted({f for (j, f), rs in dia.items() if j == "dia-a" and any(r[2] != "skipped" for r in rs)})


def met_at(up, fire):
    """When the first success (or pass) of `up` for `fire` ended; None if none did."""
    ends = [e for _i, _a, st, _s, e in dia.get((up, fire), []) if st in OK and e is not None]
    return min(ends) if ends else None


early, ok_count_bad, left_bad, follow_bad = [], [], [], []
for down, ups in NEEDS.items():
    for fire in root_fires:
        rs = dia.get((down, fire), [])
        if not rs:
            follow_bad.append(f"{down}: no run for dia-a's fire at {fire}")
            continue
        for rid, _att, state, started, _e in rs:
            if started is None:
                continue
            for up in ups:
                m = met_at(up, fire)
                if m is None or m > started:
                    early.append(f"{down} run {rid} (fire {fire}) started at {started:.3f}, before {up} for the fire "
                                 + ("ever succeeded" if m is None else f"succeeded at {m:.3f}"))
        oks = [r for r in rs if r[2] in OK]
        unmet = [up for up in ups if met_at(up, fire) is None]
        last = rs[-1]
        if len(oks) > 1:
            ok_count_bad.append(f"{down} fire {fire}: {len(oks)} succeeded-or-passed runs {[r[0] for r in oks]}")
        elif not oks and not (last[2] in FAILURE or last[2] in {"cancelled", "skipped"} or (last[2] == "waiting" and unmet)):
            ok_count_bad.append(f"{down} fire {fire}: no succeeded-or-passed run, the last one {last[0]} is {last[2]}")
        for rid, _att, state, _s, _e in rs:
            if state == "waiting" and not unmet:
                left_bad.append(f"{down} run {rid} (fire {fire}) still waiting, but every upstream succeeded for it")
            if state == "waiting" and any(r[2] in OK for r in rs):
                left_bad.append(f"{down} run {rid} (fire {fire}) still waiting beside a successful run of the fire")
check("diamond: every follower has a run for each fire of its root", follow_bad,
      f"{len(root_fires)} fires of dia-a run (not skipped)")
check("diamond: no downstream run started before its needs for the fire were met", early,
      f"{sum(1 for (j, _f), rs in dia.items() if j != 'dia-a' for r in rs if r[3] is not None)} downstream runs started")
reruns = [l for l in lines(os.path.join(a.fleet, "faults.log")) if "dia-b fire" in l]
check("diamond: one succeeded-or-passed run per (downstream job, fire), none where a chain failed or waits unmet",
      ok_count_bad + lines(os.path.join(a.fleet, "records", "reruns")),
      f"{sum(1 for l in reruns if 'rerun' in l)} reruns with --downstream, {sum(1 for l in reruns if 'passed' in l)} passes")
waiting = [(j, f) for (j, f), rs in dia.items() if any(r[2] == "waiting" for r in rs)]
check("diamond: no waiting run left whose needs are met", left_bad, f"{len(waiting)} (job, fire) still waiting, each blocked")
# every run left waiting for a dia-b fire that failed for good has the `blocked` alert naming that failed run
blocked_bad = []
for (j, f) in waiting:
    for up in NEEDS[j]:
        chain = dia.get((up, f), [])
        if chain and met_at(up, f) is None and chain[-1][2] in FAILURE and f"blocked:{chain[-1][0]}" not in sources_all:
            blocked_bad.append(f"{j} fire {f} waits for {up} run {chain[-1][0]} ({chain[-1][2]}): no blocked alert")
check("diamond: a run waiting for an upstream that failed for good has its blocked alert", blocked_bad,
      f"{sum(1 for s_ in sources_all if s_.startswith('blocked:'))} blocked alert sources")

# --- a job whose user no worker runs as never ran, assigned runs included -------------------------
foreign = sql("SELECT id, state, COALESCE(machine, '') FROM runs WHERE job_name = 'foreign' AND started_at IS NOT NULL")
foreign_bad = [f"run {r[0]} of foreign started on {r[2]} ({r[1]})" for r in foreign]
if os.path.exists(os.path.join(a.fleet, "records", "foreign-ran")):
    foreign_bad.append("the job's command ran")
foreign_bad += lines(os.path.join(a.fleet, "records", "foreign"))
queued_foreign = sql("SELECT COUNT(*) FROM runs WHERE job_name = 'foreign'")[0][0]
check("a job for a user no worker runs as never started; assigning it (sh run --on) is refused", foreign_bad,
      f"{queued_foreign} runs of it queued, none may start")

# --- bursts of more work than slots: claimed in queue order, no slot idle while they wait -----------
flood = sql("SELECT id, UNIX_TIMESTAMP(not_before), UNIX_TIMESTAMP(started_at), COALESCE(machine, '') FROM runs "
            "WHERE job_name LIKE 'flood-%' AND attempt = 1 AND started_at IS NOT NULL ORDER BY not_before")
OVERTAKEN = 30  # seconds: a claim held by a machine that went silent keeps its rows from others until the server ends it (15 s)
queued_order = [(float(nb), float(st), rid, m) for rid, nb, st, m in flood]
# suffix[k]: the earliest-starting run among those from k on (queued no earlier than run k)
suffix = [None] * (len(queued_order) + 1)
for k in range(len(queued_order) - 1, -1, -1):
    st, rid = queued_order[k][1], queued_order[k][2]
    suffix[k] = (st, rid) if suffix[k + 1] is None or st < suffix[k + 1][0] else suffix[k + 1]
fifo_bad = []
for nb, st, rid, m in queued_order:
    later = suffix[bisect.bisect_left(queued_order, (nb + 1.0,))]  # runs queued at least 1 s after this one
    if later is not None and st > later[0] + OVERTAKEN:
        fifo_bad.append(f"flood run {rid} (on {m}) started {st - later[0]:.1f}s after run {later[1]}, queued after it")
check("bursts of more work than slots: no run overtaken for good by runs queued after it", fifo_bad,
      f"{len(flood)} flood runs, overtaking tolerated up to {OVERTAKEN}s")

# idle slots: a live machine with a free slot while flood runs it may take wait, for longer than a few ticks, outside
# the windows around faults that legitimately stop it claiming (its link cut, the database down or hung, its death)
fault_lines = lines(os.path.join(a.fleet, "faults.log"))
# the database unreachable (or its writes refused) from the first of these faults to the next of the others
DB_DOWN = ("MariaDB stopped", "MariaDB hung", "MariaDB switchover begun", "MariaDB failover begun")
DB_UP = ("MariaDB started again", "MariaDB resumed", "MariaDB switched over", "MariaDB failed over")
quiet = collections.defaultdict(list)  # machine ("*" for all) -> [(from, to)]
open_since = {}
SETTLE = 20  # seconds after a fault ends before a machine must be claiming again (lease 12 s, reconnects, a tick)
for l in fault_lines:
    t, text = float(l.split()[0]), l.split(" ", 1)[1]
    mm = re.search(r"link of (w\d+) (cut|restored)", text)
    if mm:
        if mm[2] == "cut": open_since[mm[1]] = t
        else: quiet[mm[1]].append((open_since.pop(mm[1], t), t + SETTLE))
    elif any(w in text for w in DB_DOWN):
        open_since["*"] = t
    elif any(w in text for w in DB_UP):
        quiet["*"].append((open_since.pop("*", t), t + SETTLE))
    elif "stopped for good" in text:
        mm = re.search(r"machine (w\d+)", text)
        quiet[mm[1]].append((t, float("inf")))
    elif "kill -9" in text:
        mm = re.search(r" on (w\d+)", text)
        # a killed consume's runs hold their slots until their leases lapse; the next tick claims again
        quiet[mm[1] if mm else "*"].append((t, t + SETTLE))
for k, since in open_since.items():
    quiet[k].append((since, float("inf")))
IDLE = 4 * a.tick + 6  # seconds: cron starts a consume every tick, and it claims as slots free
samples = collections.defaultdict(list)
for f in lines(os.path.join(a.fleet, "samples")):
    p = f.split("\t")
    if len(p) == 5:
        samples[p[1]].append((float(p[0]), int(p[2]), int(p[3]), int(p[4])))
idle_bad, idle_samples = [], 0
for m, ss in samples.items():
    run_from = None
    for t, slots, busy, waiting in ss:
        excused = any(a0 <= t <= b0 for a0, b0 in quiet[m] + quiet["*"])
        idle = busy < slots and waiting > 0 and not excused
        idle_samples += idle
        if idle and run_from is None: run_from = t
        if not idle: run_from = None
        if run_from is not None and t - run_from > IDLE:
            idle_bad.append(f"{m}: {busy} of {slots} slots busy while {waiting} flood runs waited, for {t - run_from:.0f}s from {time.strftime('%H:%M:%S', time.localtime(run_from))}")
            run_from = None
check("no live machine's slot sat idle while eligible work waited", idle_bad,
      f"{sum(len(v) for v in samples.values())} samples, {idle_samples} with a free slot and work waiting (tolerated up to {IDLE}s)")

# --- forbid and replace jobs never overlap ------------------------------------------------
overlaps = lines(os.path.join(a.fleet, "records", "overlaps"))
interval_bad, intervals = [], 0
for path in glob.glob(os.path.join(a.fleet, "records", "*.intervals")):
    spans = {}
    for line in lines(path):
        kind, rid, machine, t = line.split()
        spans.setdefault(rid, [None, None, machine])[0 if kind == "start" else 1] = float(t)
    done = sorted((s, e, rid, m) for rid, (s, e, m) in spans.items() if s is not None)
    intervals += len(done)
    for (s1, e1, r1, m1), (s2, e2, r2, m2) in zip(done, done[1:]):
        if e1 is not None and s2 < e1:
            interval_bad.append(f"{os.path.basename(path)}: run {r2} on {m2} started {e1 - s2:.3f}s before run {r1} on {m1} ended")
check("forbid and replace jobs: no run held the job's lock while another did", overlaps, "lock taken by every such run")
check("forbid and replace jobs: recorded intervals never overlap", interval_bad, f"{intervals} intervals")

# --- cursors never go backwards; each run advanced from what it was given --------------------
history = sql("SELECT version, value FROM cursor_history WHERE job_name = 'cursor-a' ORDER BY id")
cur_bad = []
for (v1, x1), (v2, x2) in zip(history, history[1:]):
    if int(v2) <= int(v1):
        cur_bad.append(f"version {v2} stored after {v1}")
    if int(x2) < int(x1):
        cur_bad.append(f"value {x2} stored after {x1}")
remote = sql("SELECT value FROM cursors WHERE job_name = 'cursor-a'")
final = int(remote[0][0]) if remote else 0
top = max((int(x) for _v, x in history), default=0)
if final != top:
    cur_bad.append(f"final cursor {final}, but {top} was stored")
advanced = 0
for rid, job, fire, attempt, route, state, trig, cin, cout, machine in runs:
    if job == "cursor-a" and state == "succeeded":
        advanced += 1
        if int(cout or -1) != int(cin or 0) + 3:
            cur_bad.append(f"run {rid} succeeded from {cin or 0} but left {cout}")
reached = [int(l.split()[1]) for l in lines(os.path.join(a.fleet, "records", "cursor-a.values"))]
check("cursor never went backwards and ends where its runs reached", cur_bad,
      f"{len(history)} stored values, final {final}, highest value any run set {max(reached, default=0)}, {advanced} succeeded runs each +3")

# --- every numbered line exactly once ---------------------------------------------------------
chatty_state = {r[0]: r[5] for r in runs if r[1] == "chatty"}
seen = collections.defaultdict(list)
for (content,) in sql("SELECT content FROM logs WHERE job_name = 'chatty' AND content LIKE 'line %'"):
    _, rid, i = content.split()
    seen[rid].append(int(i))
line_bad, total_lines = [], 0
for rid, nums in seen.items():
    total_lines += len(nums)
    if len(nums) != len(set(nums)):
        line_bad.append(f"run {rid}: {len(nums) - len(set(nums))} lines stored twice")
    if sorted(set(nums)) != list(range(1, max(nums) + 1)):
        line_bad.append(f"run {rid}: a gap in its lines")
for rid, state in chatty_state.items():
    if state == "succeeded" and len(set(seen.get(rid, []))) != 300:
        line_bad.append(f"run {rid} succeeded with {len(set(seen.get(rid, [])))} of its 300 lines")
check("numbered log lines: each exactly once, none lost from a finished run", line_bad,
      f"{total_lines} lines from {len(seen)} runs")

# --- alerts: one per failure, delivered; recoveries ------------------------------------------
sources = {r[0] for r in sql("SELECT source FROM alert_sources")}
failures = [r for r in runs if r[5] in FAILURE]
alert_bad = [f"run {r[0]} of {r[1]} {r[5]}: no alert" for r in failures if f"run:{r[0]}" not in sources]
alerts = sql("SELECT id, kind, state, job_name, UNIX_TIMESTAMP(next_attempt_at) > UNIX_TIMESTAMP(NOW(6)) FROM alerts")
deliveries = collections.defaultdict(list)  # alert id -> ["machine at time", ...]
raw_deliveries = collections.defaultdict(list)  # alert id -> [time, ...]
for l in lines(os.path.join(a.fleet, "alerts.log")):
    f = l.split()
    when = float(f[-1])  # "ID KIND [JOB] MACHINE TIME" (a machine alert has no job)
    raw_deliveries[f[0]].append(when)
    deliveries[f[0]].append(f"{f[-2]} at {time.strftime('%H:%M:%S', time.localtime(when))}.{int(when % 1 * 1000):03d}")
delivered = collections.Counter({aid: len(d) for aid, d in deliveries.items()})
interrupted = {aid for ids in re.findall(r"during delivery of alert\(s\) ([\d ]+)", "\n".join(lines(os.path.join(a.fleet, "faults.log"))))
               for aid in ids.split()}
# A monitor records a delivery until its claim lapses (the alert timeout, 60 s, + 10 s). A delivery is repeated
# legitimately when the machine that made it could not record it before then: it was stopped for good after the
# alert command ran, or it (or the server) stayed unreachable until the claim lapsed.
CLAIM = 70
cut_off = collections.defaultdict(list)  # machine ("*" for all) -> [(from, to)] unreachable
since = {}
for l in fault_lines:
    t, text = float(l.split()[0]), l.split(" ", 1)[1]
    mm = re.search(r"link of (w\d+) (cut|restored)", text)
    if mm:
        if mm[2] == "cut": since[mm[1]] = t
        else: cut_off[mm[1]].append((since.pop(mm[1], t), t))
    elif any(w in text for w in DB_DOWN):
        since["*"] = t
    elif any(w in text for w in DB_UP):
        cut_off["*"].append((since.pop("*", t), t))
    elif "stopped for good" in text:
        cut_off[re.search(r"machine (w\d+)", text)[1]].append((t, float("inf")))
for k, t in since.items():
    cut_off[k].append((t, float("inf")))
for aid, ds in deliveries.items():
    for d, t in list(zip(ds, raw_deliveries[aid]))[:-1]:  # every delivery but the last was repeated
        m = d.split(" at ")[0]
        if any(f0 <= t + CLAIM and f1 >= t + CLAIM - 1 for f0, f1 in cut_off[m] + cut_off["*"]):
            interrupted.add(aid)
for aid, kind, state, job, not_due in alerts:
    if state == "failed":
        alert_bad.append(f"alert {aid} ({kind} {job}) failed to deliver")
    elif state == "pending" and not_due != "1":
        alert_bad.append(f"alert {aid} ({kind} {job}) due but not delivered")
    elif state == "sent" and delivered[aid] == 0:
        alert_bad.append(f"alert {aid} marked sent but the alert command never ran")
    if delivered[aid] > 1 and aid not in interrupted:
        alert_bad.append(f"alert {aid} delivered {delivered[aid]} times (no monitor was killed delivering it, nor its machine cut off until the claim lapsed): {', '.join(deliveries[aid])}")
by_kind = collections.Counter(k for _i, k, _s, _j, _n in alerts)
check("every failed, timed-out and lost run alerted once; every due alert delivered once", alert_bad,
      f"{len(failures)} failure runs, {len(alerts)} alerts {dict(by_kind)}, {sum(delivered.values())} deliveries, "
      f"{len(interrupted)} interrupted by a monitor kill or a machine cut off until the claim lapsed")
rec_bad = []
for job in jobs:
    fails = [float(r[0]) for r in sql(f"SELECT UNIX_TIMESTAMP(MIN(first_at)) FROM alerts WHERE job_name = '{job}' "
                                       "AND kind IN ('failed', 'signal', 'timeout', 'lost') AND summary = 0") if r[0] != "NULL"]
    if not fails:
        continue
    later_ok = sql(f"SELECT COUNT(*) FROM runs WHERE job_name = '{job}' AND state = 'succeeded' "
                   f"AND UNIX_TIMESTAMP(ended_at) > {fails[0]} + 5")[0][0]
    recovered = sql(f"SELECT COUNT(*) FROM alerts WHERE job_name = '{job}' AND kind = 'recovered'")[0][0]
    if int(later_ok) > 0 and int(recovered) == 0:
        rec_bad.append(f"{job} succeeded after a failure alert but no recovery notice")
check("a success after failure alerts brings a recovery notice", rec_bad, f"{by_kind.get('recovered', 0)} recovery notices")

# --- nothing left behind -----------------------------------------------------------------------
left = lines(os.path.join(a.fleet, "leftover-processes"))
check("no job process left running", left, "processes with OCTO_RUN_ID after the drain")
spool_bad, pending_bad, dead_spool = [], [], 0
for n in range(1, a.workers + 1):
    files = glob.glob(os.path.join(a.fleet, f"w{n}", "state", "spool", "*.spool"))
    if f"w{n}" in dead:
        dead_spool += len(files)
        continue
    spool_bad += [f"w{n}: {os.path.basename(f)} not replayed" for f in files]
    for f in glob.glob(os.path.join(a.fleet, f"w{n}", "state", "cursors", "*.cursor")):
        if "state pending" in lines(f):
            pending_bad.append(f"w{n}: {os.path.basename(f)} still pending")
check("no spool left unreplayed on a live machine", spool_bad, f"{dead_spool} spool file(s) on the stopped machine, not counted")
check("no local cursor left pending on a live machine", pending_bad, "")

# --- metrics: every ended run counted once in run_counts (the counters), whatever was killed mid-completion
ended_by = collections.Counter((r[0], r[1]) for r in sql("SELECT job_name, state FROM runs")
                               if r[1] in FINAL)
counted = collections.Counter()
for job, state, n in sql("SELECT job_name, state, SUM(runs) FROM run_counts GROUP BY job_name, state"):
    counted[(job, state)] = int(n)
count_bad = [f"{j} {st}: {counted[(j, st)]} counted, {ended_by[(j, st)]} runs"
             for (j, st) in sorted(set(ended_by) | set(counted)) if counted[(j, st)] != ended_by[(j, st)]]
check("metrics: every ended run counted exactly once (run_counts against runs)", count_bad,
      f"{sum(ended_by.values())} ended runs, {sum(counted.values())} counted")

# --- audit: every manual run (sh run) has exactly one audit row naming it, written with it
import json
audited = collections.Counter()
for (changes,) in sql("SELECT changes FROM audit WHERE action IN ('run', 'pass')"):
    for run_id in (json.loads(changes).get("runs") or [None, []])[1]:
        audited[str(run_id)] += 1
manual = [r[0] for r in sql("SELECT id FROM runs WHERE trigger_kind = 'manual'")]
audit_bad = [f"manual run {m}: {audited[m]} audit rows" for m in manual if audited[m] != 1]
audit_bad += [f"audit row for run {r} that does not exist" for r in audited if r not in set(manual)]
check("audit: every manual run (sh run, sh pass) has exactly one audit row, and no row names a run that is not there", audit_bad,
      f"{len(manual)} manual runs, {sum(audited.values())} audited")

# --- promotions: the promoted server goes on where the old primary stopped -------------------------
if a.replica:
    # each promotion's "begun" line carries the high-water marks read from the old primary just before it; a row
    # certainly written after the promotion ended (its time column set by the new primary) must lie above them
    seq_bad, promos, begun, compared = [], [], None, 0
    for l in fault_lines:
        t, text = float(l.split()[0]), l.split(" ", 1)[1]
        if "switchover begun" in text or "failover begun" in text:
            begun = {k: int(v) for k, v in re.findall(r"(\S+)=(\d+)", text)}
        elif ("switched over" in text or "failed over" in text) and begun is not None:
            promos.append(("switchover" if "switched" in text else "failover", begun, t))
            begun = None
    AFTER = {  # the rows written after t (a promotion's end), and the column to compare
        "runs.id": "SELECT MIN(id) FROM runs WHERE fire_time > FROM_UNIXTIME({t})",
        "runs.cursor_epoch": "SELECT MIN(cursor_epoch) FROM runs WHERE started_at > FROM_UNIXTIME({t})",
        "cursor_history.id": "SELECT MIN(id) FROM cursor_history WHERE set_at > FROM_UNIXTIME({t})",
        "logs.id": "SELECT MIN(l.id) FROM logs l JOIN runs r ON r.id = l.run_id WHERE r.started_at > FROM_UNIXTIME({t})",
        "audit.id": "SELECT MIN(id) FROM audit WHERE at > FROM_UNIXTIME({t})",
    }
    for what, marks, t1 in promos:
        if len(marks) < len(AFTER): seq_bad.append(f"the {what}'s high-water marks were not read: {marks}")
        for name, query in AFTER.items():
            if name not in marks: continue
            nxt = sql("SET time_zone = '+00:00'; " + query.format(t=f"{t1:.6f}"))[0][0]
            if nxt == "NULL": continue
            compared += 1
            if int(nxt) <= marks[name]:
                seq_bad.append(f"{name}: {nxt} handed out after the {what}, {marks[name]} already before it")
    check("promotions: every id and cursor epoch handed out after one is above all handed out before it", seq_bad,
          f"{len(promos)} promotions ({', '.join(w for w, _, _ in promos)}), {compared} of {len(promos) * len(AFTER)} sequences compared")

KINDS = [("kill -9 consume", "consume killed"), ("kill -9 job", "job process killed"), ("kill -9 monitor", "monitor killed mid-delivery"),
         ("cut silently", "link cut silently"), ("cut (interface", "link cut"), ("stopped for good", "machine stopped"),
         ("MariaDB stopped", "MariaDB restarted"), ("MariaDB hung", "MariaDB hung"), ("assigned run of foreign", "foreign run assigned"),
         ("with --downstream", "dia-b rerun with --downstream"), ("(failed for good) passed", "dia-b passed"),
         ("MariaDB switched over", "primary switched over"), ("MariaDB failed over", "primary killed, replica promoted"),
         ("rejoined as the replica", "crashed primary rejoined")]
faults = collections.Counter(next((k for pat, k in KINDS if pat in l), None) for l in lines(os.path.join(a.fleet, "faults.log")))
faults.pop(None, None)
print(f"faults injected: {dict(faults)}")
replay = f"scripts/fleet{' --replica' if a.replica else ''} --seed {a.seed}"
print(f"violations: {len(violations)}" + (f" (seed {a.seed}: {replay} replays the fault schedule)" if violations else ""))
sys.exit(1 if violations else 0)
