"""Rasa CPU per message as conversations grow: kefu's Rasa server (scripts/rasa_server.py) against a peer in the
same run.

Two Rasa servers on the same trained model and one action server; each conversation's messages are sent to both
alternately (which one goes first alternates too), one message at a time, so both see the same machine at the same
moment. For every message the Rasa process's CPU time (``/proc/<pid>/stat``) and the wall time are taken; the first
message of each conversation is left out of the figures (it starts a session). The peer is stock Rasa
(``--peer stock``: ``rasa run``, none of scripts/rasa_server.py's changes), the Rasa server script of an earlier
commit (``--peer <git revision>``), or kefu's server on another trained model (``--peer same --peer-model PATH``,
e.g. one trained from an earlier ``bot/config.yml``).

    .venv/bin/python bench/rasa_turns_bench.py --turns 40 --conversations 6 --peer stock
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from load_bench import QUESTIONS  # noqa: E402  (the load bench's shopper questions; bench/ is on sys.path)

import tests.procs as procs  # noqa: E402
from shop.settings import DEFAULT_DB as DEMO_ORDERS  # noqa: E402

STOCK = "import sys\nfrom rasa.__main__ import main\nsys.argv[0] = 'rasa'\nmain()\n"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def mean(samples: list[tuple[float, float]], field: int) -> float:
    """Mean of one field of (wall ms, CPU ms) samples."""
    return sum(sample[field] for sample in samples) / len(samples)


def peer_script(peer: str, tmp: Path) -> Path:
    path = tmp / "peer_rasa_server.py"
    if peer == "same":
        return procs.RASA_SERVER
    if peer == "stock":
        path.write_text(STOCK, encoding="utf-8")
    else:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{peer}:scripts/rasa_server.py"], capture_output=True, text=True
        )
        if source.returncode != 0:
            raise SystemExit(f"--peer {peer}: no scripts/rasa_server.py at that revision ({source.stderr.strip()})")
        path.write_text(source.stdout, encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--conversations", type=int, default=6)
    parser.add_argument("--peer", default="stock",
                        help="'stock' (plain `rasa run`), 'same' (this server script) or a git revision")
    parser.add_argument("--peer-model", type=Path, default=procs.RASA_MODEL, help="the model the peer serves")
    parser.add_argument("--window", type=int, default=10, help="messages per row of the report")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        actions = procs.start_action_server(log_dir=tmp, orders_db_url=f"sqlite:///{DEMO_ORDERS}")
        ours = procs.RASA_SERVER
        servers: dict[str, procs.Proc] = {}
        clients: dict[str, httpx.Client] = {}
        try:
            servers["kefu"] = procs.start_rasa(log_dir=tmp / "kefu", action_url=actions.url)
            procs.RASA_SERVER = peer_script(args.peer, tmp)
            servers["peer"] = procs.start_rasa(log_dir=tmp / "peer", action_url=actions.url,
                                               model=args.peer_model.resolve())
            procs.RASA_SERVER = ours
            rows: dict[str, dict[int, list[tuple[float, float]]]] = {name: {} for name in servers}
            clients.update({name: httpx.Client(base_url=proc.url, timeout=60) for name, proc in servers.items()})
            for conv in range(args.conversations):
                rng = random.Random(conv)
                sender = f"turns-{conv}-{time.time_ns()}"
                for turn in range(args.turns):
                    text = rng.choice(QUESTIONS)
                    for name in ("kefu", "peer") if (conv + turn) % 2 else ("peer", "kefu"):
                        pid = servers[name].popen.pid
                        cpu0, wall0 = cpu_s(pid), time.perf_counter()
                        resp = clients[name].post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
                        resp.raise_for_status()
                        if turn > 0:
                            sample = ((time.perf_counter() - wall0) * 1000, (cpu_s(pid) - cpu0) * 1000)
                            rows[name].setdefault(turn // args.window, []).append(sample)
        finally:
            procs.RASA_SERVER = ours
            for client in clients.values():
                client.close()
            for proc in servers.values():
                proc.stop()
            actions.stop()
    print(f"peer: {args.peer} on {args.peer_model}; {args.conversations} conversations of {args.turns} messages; "
          "Rasa CPU ms per message")
    print("| messages | kefu CPU | peer CPU | kefu / peer | kefu wall | peer wall |")
    print("| --- | --- | --- | --- | --- | --- |")
    totals = {name: [s for window in rows[name].values() for s in window] for name in rows}
    for window in sorted(rows["kefu"]):
        k, p = rows["kefu"][window], rows["peer"][window]
        kc, pc, kw, pw = mean(k, 1), mean(p, 1), mean(k, 0), mean(p, 0)
        first, last = max(2, window * args.window + 1), min(args.turns, (window + 1) * args.window)
        print(f"| {first}-{last} | {kc:.1f} | {pc:.1f} | {kc / pc:.2f} | {kw:.1f} | {pw:.1f} |")
    kc, pc = mean(totals["kefu"], 1), mean(totals["peer"], 1)
    print(f"| all | {kc:.1f} | {pc:.1f} | {kc / pc:.2f} | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
