#!/usr/bin/env python3
"""Soak run: the daemon on SQLite for a long while under a steady stream of campaigns
and provider callbacks, checking that processing never stalls and memory stays flat.

    python3 benches/soak.py                  # 30 minutes (the documented run)
    SOAK_SECONDS=3600 python3 benches/soak.py

It builds herald (release), sets up a scratch workspace with `herald init`, 600 contacts,
an SMS campaign every minute through `herald provider-sim` over HTTP (signed callbacks:
deliveries, replies, STOP opt-outs, at 1/100 of the simulated delays) and an e-mail
campaign every two minutes on the simulated provider. Every 5 seconds it samples the
daemon's resident memory and the ledger. It fails (exit 1) when:

- a minute passes after the first two without a send or an applied callback (a stall),
- the resident memory over the last five minutes (its median) is more than 10 % above its
  level over the five minutes before the half-way point (the daemon's caches fill in its
  first ten minutes or so; after that a leak shows as steady growth, a full cache does
  not, and a median is not moved by a burst of a few seconds),
- the backlog (open attempts, callbacks waiting) keeps growing instead of levelling off,
- the daemon or the provider dies.

The summary is printed, and written to docs/soak.md between its soak markers;
SOAK_SAMPLES=FILE also writes every sample to FILE as JSON.
"""

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECONDS = int(os.environ.get("SOAK_SECONDS", "1800"))
PEOPLE = 600
SECRET = "soak-run-secret-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def main():
    subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    herald = os.path.join(ROOT, "target", "release", "herald")
    work = tempfile.mkdtemp(prefix="herald-soak-")
    api_port, sim_port = free_port(), free_port()
    env = dict(os.environ, HERALD_SECRET=SECRET, HERALD_LOG="herald=warn")
    for var in ("HERALD_CONFIG", "HERALD_DATABASE_URL", "HERALD_NOW"):
        env.pop(var, None)

    def run(*args):
        subprocess.run([herald, *args], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)

    run("init", ".")
    for name in os.listdir(os.path.join(work, "jobs")):
        os.remove(os.path.join(work, "jobs", name))
    config = open(os.path.join(work, "herald.toml")).read()
    config = config.replace('sms = "08:00-21:00"', 'sms = "00:00-24:00"')
    with open(os.path.join(work, "herald.toml"), "w") as f:
        f.write(f'public_url = "http://127.0.0.1:{api_port}"\n{config}\n'
                f'[sms]\nprovider = "http"\nurl = "http://127.0.0.1:{sim_port}"\n'
                '[sim]\nsms_delivered = 0.97\nsms_reply = 0.2\nsms_opt_out = 0.05\n'
                'reply_delay = "10m"\ndelivery_delay = "20s"\n')
    with open(os.path.join(work, "jobs", "minute_sms.toml"), "w") as f:
        f.write('kind = "reminder"\n[audience]\nlists = ["people"]\n'
                '[schedule]\ncron = "* * * * *"\ntimezone = "UTC"\n[rate_limits]\nsms = "30/s"\n'
                '[[steps]]\nid = "sms"\nchannel = "sms"\ntemplate = "payment_reminder"\n')
    with open(os.path.join(work, "jobs", "two_minute_mail.toml"), "w") as f:
        f.write('kind = "reminder"\n[audience]\nlists = ["people"]\n'
                '[schedule]\ncron = "*/2 * * * *"\ntimezone = "UTC"\n[rate_limits]\nemail = "30/s"\n'
                '[[steps]]\nid = "mail"\nchannel = "email"\ntemplate = "winter_offer"\n')
    with open(os.path.join(work, "people.csv"), "w") as f:
        f.write("external_id,first_name,phone,email,balance,plan\n")
        for i in range(PEOPLE):
            f.write(f"S{i},Sam,+4474005{i:05},s{i}@example.com,{10 + i % 90},basic\n")
    run("contacts", "import", "people.csv", "--list", "people")
    run("validate")  # a campaign that does not load would soak nothing: stop here instead

    sim = subprocess.Popen([herald, "provider-sim", "--bind", f"127.0.0.1:{sim_port}",
                            "--time-scale", "0.01"], cwd=work, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    daemon_log = open(os.path.join(work, "daemon.log"), "w")
    daemon = subprocess.Popen([herald, "run"], cwd=work,
                              env=dict(env, HERALD_API_BIND=f"127.0.0.1:{api_port}"),
                              stdout=subprocess.DEVNULL, stderr=daemon_log)
    db = os.path.join(work, "herald.db")
    samples = []
    started = time.time()
    problems = []
    try:
        while time.time() - started < SECONDS:
            time.sleep(5)
            if daemon.poll() is not None or sim.poll() is not None:
                problems.append("the daemon or the provider died")
                break
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
            q = lambda sql: con.execute(sql).fetchone()[0]
            samples.append({
                "t": round(time.time() - started),
                "rss_mib": rss_mib(daemon.pid),
                "runs": q("SELECT COUNT(*) FROM runs WHERE state <> 'missed'"),
                "sent": q("SELECT COUNT(*) FROM attempts WHERE sent_at IS NOT NULL"),
                "applied": q("SELECT COUNT(*) FROM inbox WHERE applied_at IS NOT NULL"),
                "open": q("SELECT COUNT(*) FROM attempts WHERE state IN ('queued','sending','sent')"),
                "waiting": q("SELECT COUNT(*) FROM inbox WHERE applied_at IS NULL"),
                "opted_out": q("SELECT COUNT(*) FROM suppressions WHERE kind = 'opt_out'"),
            })
            con.close()
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            problems.append("the daemon did not stop within 30 s of SIGTERM")
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=10)
    # Stalls: over every minute after the first two, something was sent or applied.
    for s in samples:
        if s["t"] < 120:
            continue
        before = [p for p in samples if s["t"] - 65 <= p["t"] <= s["t"] - 55]
        if before and (s["sent"], s["applied"]) == (before[0]["sent"], before[0]["applied"]):
            problems.append(f"stalled for a minute before t={s['t']} s")
            break
    # Memory: flat once the caches are warm (medians, so that a burst of a few seconds
    # while two runs overlap does not count as growth).
    def median_rss(window):
        values = sorted(s["rss_mib"] for s in window if s["rss_mib"])
        return values[len(values) // 2] if values else None
    five_minutes = 60  # samples, one every 5 seconds
    half = len(samples) // 2
    settled = median_rss(samples[max(0, half - five_minutes):half])
    late = median_rss(samples[-five_minutes:])
    if settled and late and late > 1.10 * settled:
        problems.append(f"memory grew from {settled:.0f} MiB before the half-way point "
                        f"to {late:.0f} MiB in the last five minutes")
    # Backlog: the last third is not far above the middle third.
    third = len(samples) // 3
    if third:
        mid = max(s["open"] + s["waiting"] for s in samples[third:2 * third])
        last = max(s["open"] + s["waiting"] for s in samples[2 * third:])
        if last > 1.5 * mid + 100:
            problems.append(f"the backlog keeps growing: {mid} then {last}")

    last = samples[-1] if samples else {}
    elapsed = last.get("t", 0)
    summary = {
        "seconds": elapsed,
        "runs": last.get("runs"),
        "sent": last.get("sent"),
        "callbacks_applied": last.get("applied"),
        "opted_out": last.get("opted_out"),
        "sends_per_minute": round(60 * last.get("sent", 0) / max(elapsed, 1)),
        "rss_mib_settled_before_half_way": round(settled, 1) if settled else None,
        "rss_mib_last_five_minutes": round(late, 1) if late else None,
        "rss_mib_max": round(max((s["rss_mib"] or 0) for s in samples), 1) if samples else None,
        "rss_mib_every_5_min": [round(s["rss_mib"] or 0, 1) for s in samples[::60]],
        "backlog_max": max((s["open"] + s["waiting"]) for s in samples) if samples else None,
        "problems": problems,
    }
    print(json.dumps(summary, indent=2))
    with open(os.environ.get("SOAK_SAMPLES", "/dev/null"), "w") as f:
        json.dump(samples, f)
    if problems:
        daemon_log.close()
        print("the daemon's last log lines:", file=sys.stderr)
        print("".join(open(daemon_log.name).readlines()[-20:]), file=sys.stderr)
    doc = os.path.join(ROOT, "docs", "soak.md")
    if os.path.exists(doc):
        text = open(doc).read()
        begin, end = "<!-- soak:begin -->", "<!-- soak:end -->"
        if begin in text and end in text:
            head, rest = text.split(begin, 1)
            _, tail = rest.split(end, 1)
            rows = "\n".join(f"| {k} | {v} |" for k, v in summary.items() if k != "problems")
            verdict = "passed" if not problems else "FAILED: " + "; ".join(problems)
            stamp = time.strftime("%Y-%m-%d")
            body = (f"\n_Run on {stamp} by `python3 benches/soak.py` ({SECONDS} s): {verdict}._\n\n"
                    f"| figure | value |\n|---|---|\n{rows}\n")
            open(doc, "w").write(head + begin + body + end + tail)
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
