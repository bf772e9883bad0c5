"""The fleet's cost on one database: scripts/bench fleet-scale drives this.

For each size N, N simulated machines (OCTO_MACHINE m1..mN) run the lines of
crontab.example, each through /bin/sh -c as cron runs them, tick after tick.
A tick is one scaled "cron minute" of at least EVERY seconds: before it,
200 of the 10,000 jobs are made due (5 of them fail, `exit 3`, so that
alerts are found and delivered); then each line is started on every machine
(at most PARALLEL at once, in random order), one line after the other, so
that the database's work can be counted per line. `*/5` lines run every
fifth tick. The first tick registers the machines and is not counted.

Measured per line, over the counted ticks: the database server's CPU
seconds (utime + stime of its process), statements (Questions), row lock
waits and deadlocks (SHOW GLOBAL STATUS deltas), each process's wall time
(p50, p99); after each tick the queue's depth and whether every failed
run's alert was delivered in its own tick (an alert within one interval).
"""
import json, os, random, re, statistics, subprocess, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
import pymysql

octo, defaults, sizes, ticks, every, parallel, out = (
    sys.argv[1], sys.argv[2], [int(n) for n in sys.argv[3].split(",")], int(sys.argv[4]), float(sys.argv[5]),
    int(sys.argv[6]), sys.argv[7])
mysqld_pid = int(open(os.path.join(os.path.dirname(defaults), "run", "mariadbd.pid")).read())
hz = os.sysconf("SC_CLK_TCK")

db = pymysql.connect(read_default_file=defaults, read_default_group="client", database="octo", autocommit=True)
def sql(q, *a):
    with db.cursor() as c:
        c.execute(q, a or None)
        return c.fetchall()

# an octo from before the monitor's lease (OCTO_BENCH_BINARY) has no --every
lease = "--every" in subprocess.run([octo, "monitor", "--help"], capture_output=True, text=True).stdout

def cron_lines():
    lines = []
    for raw in open("crontab.example"):
        raw = raw.strip()
        if not raw or raw.startswith("#") or re.match(r"^[A-Z_]+=", raw): continue
        m, h, dom, mon, dow, cmd = raw.split(None, 5)
        step = 1 if m == "*" else int(m[2:]) if m.startswith("*/") else sys.exit(f"fleet-scale understands * and */N minutes, not {m}")
        # scaled time: consume claims for one tick (cron's claims for a minute), the monitor's interval is a tick
        cmd = re.sub(r"\bocto\b", octo, cmd)
        cmd = cmd.replace(f"{octo} consume", f"{octo} consume --claim-for 1s")
        if lease: cmd = cmd.replace(f"{octo} monitor", f"{octo} monitor --every {every:g}s")
        label = re.sub(r"\s+", " ", raw.split(None, 5)[5])
        lines.append((label, step, cmd))
    return lines

def status():
    s = dict(sql("SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Innodb_row_lock_waits', 'Innodb_deadlocks')"))
    with open(f"/proc/{mysqld_pid}/stat") as f: fields = f.read().rsplit(")", 1)[1].split()
    return {"cpu": (int(fields[11]) + int(fields[12])) / hz, "statements": int(s["Questions"]),
            "lock_waits": int(s["Innodb_row_lock_waits"]), "deadlocks": int(s.get("Innodb_deadlocks", 0))}

expected_failure = re.compile(r"^octo: run \d+ of job-\d+ failed: exit code 3 is not accepted")

def run_line(cmd, machines):
    times, failures = [], []
    lock = threading.Lock()
    def one(m):
        env = dict(os.environ, OCTO_MACHINE=m)
        t0 = time.perf_counter()
        p = subprocess.run(["/bin/sh", "-c", cmd], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t = time.perf_counter() - t0
        with lock:
            times.append(t)
            # consume exits 1 when a run it ran failed: the bench's failing jobs do, on purpose
            err = [l for l in p.stderr.decode(errors="replace").splitlines() if not expected_failure.search(l)]
            if p.returncode != 0 and (err or p.returncode != 1): failures.append(f"{m}: exit {p.returncode}: {' | '.join(err)[:300]}")
    order = list(machines)
    random.shuffle(order)
    with ThreadPoolExecutor(parallel) as pool: list(pool.map(one, order))
    return times, failures

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

lines = cron_lines()
results = []
random.seed(1)
clock = 0  # ticks so far, over every size: each tick makes a different 200 jobs due (no failure merges with an earlier one)
for n in sizes:
    machines = [f"m{k}" for k in range(1, n + 1)]
    sql("DELETE FROM queue"); sql("DELETE FROM runs"); sql("DELETE FROM alerts"); sql("DELETE FROM alert_sources")
    sql("DELETE FROM machines")
    acc = {label: {"cpu": 0.0, "statements": 0, "lock_waits": 0, "deadlocks": 0, "times": [], "ticks": 0} for label, _, _ in lines}
    depth, late, failures, sweeps0 = [], 0, [], None
    for tick in range(ticks + 1):
        clock += 1
        start = time.monotonic()
        first_run = sql("SELECT COALESCE(MAX(id), 0) FROM runs")[0][0]
        # a new cron minute: the last one's sweep lease has lapsed (a tick here is not a fixed length, and one
        # shorter than the last could otherwise leave a tick without a sweep)
        sql("UPDATE markers SET updated_at = NOW(6) - INTERVAL 1 DAY WHERE name = 'monitor_sweep'")
        sql("UPDATE jobs SET next_fire_at = IF(id %% 50 = %s, NOW(6), NOW(6) + INTERVAL 1 DAY)", clock % 50)
        if tick == 1: sweeps0 = sql("SELECT COALESCE(MAX(value), 0) FROM markers WHERE name = 'monitor_sweep'")[0][0]
        for label, step, cmd in lines:
            if tick % step: continue
            before = status()
            times, bad = run_line(cmd, machines)
            after = status()
            failures += bad
            if tick == 0: continue
            a = acc[label]
            for k in ("cpu", "statements", "lock_waits", "deadlocks"): a[k] += after[k] - before[k]
            a["statements"] -= 1  # the SHOW GLOBAL STATUS of `after`
            a["times"] += times
            a["ticks"] += 1
        if tick > 0:
            depth.append(sql("SELECT COUNT(*) FROM queue")[0][0])
            # every run that failed in this tick has its alert sent by this tick's monitors
            late += sql("""SELECT COUNT(*) FROM runs r WHERE r.state = 'failed' AND r.id > %s
                           AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.run_id = r.id AND a.state = 'sent')""", first_run)[0][0]
        time.sleep(max(0, every - (time.monotonic() - start)))
    sweeps = int(sql("SELECT COALESCE(MAX(value), 0) FROM markers WHERE name = 'monitor_sweep'")[0][0] - (sweeps0 or 0))
    results.append({"machines": n, "ticks": ticks, "lines": {
        label: {"cpu_per_machine_tick_ms": 1000 * a["cpu"] / (n * a["ticks"]),
                "statements_per_machine_tick": a["statements"] / (n * a["ticks"]),
                "p50_ms": 1000 * pct(a["times"], 50), "p99_ms": 1000 * pct(a["times"], 99),
                "lock_waits": a["lock_waits"], "deadlocks": a["deadlocks"], "ticks": a["ticks"]}
        for label, a in acc.items() if a["ticks"]},
        "cpu_per_machine_tick_ms": 1000 * sum(a["cpu"] / a["ticks"] for a in acc.values() if a["ticks"]) / n,
        "queue_depth_max": int(max(depth)), "alerts_late": int(late), "failures": failures[:5], "failure_count": len(failures),
        "sweeps": sweeps})
    r = results[-1]
    print(f"N = {n}: {ticks} ticks; database CPU per machine-tick {r['cpu_per_machine_tick_ms']:.2f} ms; "
          f"queue depth after a tick at most {r['queue_depth_max']}; monitor sweeps {sweeps}; "
          f"failed runs whose alert was not sent within their tick: {late}; processes failed: {len(failures)}", flush=True)
    for label, l in r["lines"].items():
        print(f"  {label:38} DB CPU {l['cpu_per_machine_tick_ms']:6.2f} ms  statements {l['statements_per_machine_tick']:7.1f}"
              f"  p50 {l['p50_ms']:6.0f} ms  p99 {l['p99_ms']:6.0f} ms  lock waits {l['lock_waits']:4}  deadlocks {l['deadlocks']}",
              flush=True)
    for f in failures[:5]: print("  failed:", f)
json.dump(results, open(out, "w"), indent=1)
