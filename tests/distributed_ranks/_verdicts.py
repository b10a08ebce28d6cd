"""The verdict file every rank script writes: <out>/rank<r>.json =
{check name: [passed, detail]}, saved after each check, with a log of the
checks' start times beside it."""
import json
import os
import time
import traceback


class Verdicts:
    def __init__(self, out_dir, rank, size):
        self.path = os.path.join(out_dir, f"rank{rank}.json")
        self.rank, self.size = rank, size
        self.results = {}
        self.started = time.perf_counter()
        self.log = open(os.path.join(out_dir, f"rank{rank}.log"), "w", buffering=1)

    def record(self, name, fn):
        """Run one check and save every verdict so far.  A check that raises
        ends this rank at once: the others are, or will be, inside collectives
        this rank will never join, and its closed connections make theirs fail
        instead of hang."""
        self.log.write(f"{time.perf_counter() - self.started:8.2f} {name}\n")
        try:
            ok, detail = fn()
        except Exception:                                   # noqa: BLE001
            ok, detail = False, traceback.format_exc()
        self.results[name] = [bool(ok), str(detail)]
        self._save()
        if detail.startswith("Traceback"):
            self.log.write(detail)
            os._exit(3)

    def finish(self):
        self.results["_meta"] = [True, json.dumps({
            "rank": self.rank, "size": self.size,
            "seconds": time.perf_counter() - self.started})]
        self._save()

    def _save(self):
        with open(self.path, "w") as f:
            json.dump(self.results, f)
