"""Ctrl-C at random moments inside `Trainer.step` and `Trainer.load_checkpoint`, many times.

Run as a script (in a process of its own: the SIGINTs are real): `python _interrupt_probe.py
step 60 SEED` or `... load 40 SEED`. Each try sends SIGINT to this process at a random moment
of the call (an interval timer's SIGALRM handler sends it, so it lands between any two
bytecodes, as a Ctrl-C does), catches the KeyboardInterrupt, and classifies what the trainer
holds afterwards: exactly the state before the call, exactly the state after a whole call
(computed beforehand on a twin), or something else ("torn"). Prints one JSON object: the counts.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from minifw import MNIST, Adam, CentralDiff, RandomChoiceSampler, Trainer, TwoLayerNet


def state(trainer: Trainer) -> dict[str, Any]:
    return {
        "params": {k: v.tobytes() for k, v in trainer.model.params.items()},
        "optimizer": {k: v.tobytes() for k, v in trainer.optimizer.state().items()},
        "sampler": {k: v.tobytes() for k, v in trainer.sampler.state().items()},
        "loss": list(trainer.history.loss),
        "evaluations": list(trainer.history.evaluations),
        "step": trainer.step_count,
    }


def make(dataset: MNIST, seed: int) -> Trainer:
    return Trainer(
        model=TwoLayerNet(hidden_size=30, seed=seed),
        dataset=dataset,
        sampler=RandomChoiceSampler(100, seed=seed),
        differentiator=CentralDiff(),
        optimizer=Adam(),
        eval_every=0,
        progress=False,
    )


def send_sigint(signum: int, frame: object) -> None:
    os.kill(os.getpid(), signal.SIGINT)


def interrupted(call: Any, seconds: float) -> bool:
    """Run `call()` with SIGINT sent after `seconds`; return whether it was interrupted."""
    try:
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-6))
        call()
        time.sleep(seconds + 0.01)  # a signal due just after the call lands here
    except KeyboardInterrupt:
        return True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return False


def aim(rng: random.Random, seconds: float) -> float:
    """Return when to send the signal: anywhere in the call, or (every other try) near its end.

    The end is where a call commits what it worked out, the moment a signal could tear.
    """
    if rng.random() < 0.5:
        return rng.uniform(0, 1.1 * seconds)
    return rng.uniform(0.85 * seconds, 1.05 * seconds)


def main() -> None:
    what, tries, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    signal.signal(signal.SIGALRM, send_sigint)
    rng = random.Random(seed)
    dataset = MNIST.sample()
    trainer = make(dataset, seed)
    trainer.fit(2)
    folder = Path(tempfile.mkdtemp())
    counts = {"before": 0, "after": 0, "torn": 0, "interrupted": 0}
    start = time.perf_counter()
    trainer.step()  # how long a step takes, to aim the signals inside it
    step_seconds = time.perf_counter() - start
    for number in range(tries):
        if what == "step":
            twin = copy.deepcopy(trainer)
            twin.step()
            before, after = state(trainer), state(twin)
            hit = interrupted(trainer.step, aim(rng, step_seconds))
        else:
            source = make(dataset, seed + number + 1)
            source.fit(number % 3 + 1)
            path = source.save_checkpoint(folder / f"ck{number}.npz")
            twin = copy.deepcopy(trainer)
            twin.load_checkpoint(path)
            before, after = state(trainer), state(twin)
            start = time.perf_counter()
            copy.deepcopy(trainer).load_checkpoint(path)
            load_seconds = time.perf_counter() - start
            hit = interrupted(functools.partial(trainer.load_checkpoint, path), aim(rng, load_seconds))
        now = state(trainer)
        counts["interrupted"] += hit
        counts["before" if now == before else "after" if now == after else "torn"] += 1
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
